package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/cmd/outpostctl/fleet"
	"github.com/outpost-edge/outpost/sync/mqttlink"
	"github.com/outpost-edge/outpost/sync/protocol"
)

func TestGenList(t *testing.T) {
	tests := []struct {
		gens, want map[string]int64
		out        string
	}{
		{nil, nil, "<none>"},
		{map[string]int64{"remote:group/edge": 4, "remote:node": 2, "remote:group/a": 1}, nil, "node=2,a=1,edge=4"},
		{map[string]int64{"remote:node": 1, "remote:group/edge": 4}, map[string]int64{"remote:node": 2, "remote:group/edge": 4}, "node=1*,edge=4"},
		{map[string]int64{"remote:group/edge": 5}, map[string]int64{"remote:group/edge": 4}, "edge=5"},
	}
	for _, tt := range tests {
		if got := genList(tt.gens, tt.want); got != tt.out {
			t.Errorf("genList(%v, %v) = %q, want %q", tt.gens, tt.want, got, tt.out)
		}
	}
}

func TestPodStatusText(t *testing.T) {
	waiting := func(r string) api.ContainerState {
		return api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: r}}
	}
	tests := []struct {
		name string
		p    api.PodStatus
		want string
	}{
		{"no phase yet", api.PodStatus{}, "Pending"},
		{"running", api.PodStatus{Phase: "Running", ContainerStatuses: []api.ContainerStatus{{Ready: true, State: api.ContainerState{Running: &api.ContainerStateRunning{}}}}}, "Running"},
		{"crash loop", api.PodStatus{Phase: "Running", ContainerStatuses: []api.ContainerStatus{{State: waiting("CrashLoopBackOff")}}}, "CrashLoopBackOff"},
		{"pull error", api.PodStatus{Phase: "Pending", ContainerStatuses: []api.ContainerStatus{{State: waiting("ErrImagePull")}}}, "ErrImagePull"},
		{"init failed", api.PodStatus{Phase: "Pending", InitContainerStatuses: []api.ContainerStatus{{State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 3}}}}}, "Init:ExitCode:3"},
		{"init running", api.PodStatus{Phase: "Pending", InitContainerStatuses: []api.ContainerStatus{{State: api.ContainerState{Running: &api.ContainerStateRunning{}}}}}, "Init:0/1"},
		{"evicted", api.PodStatus{Phase: "Failed", Reason: "Evicted"}, "Evicted"},
		{"completed", api.PodStatus{Phase: "Succeeded", ContainerStatuses: []api.ContainerStatus{{State: api.ContainerState{Terminated: &api.ContainerStateTerminated{Reason: "Completed"}}}}}, "Completed"},
	}
	for _, tt := range tests {
		if got := podStatusText(tt.p); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {45 * time.Second, "45s"}, {200 * time.Second, "3m20s"}, {5 * time.Minute, "5m"},
		{130 * time.Minute, "130m"}, {190 * time.Minute, "3h10m"}, {30 * time.Hour, "30h"}, {100 * time.Hour, "4d"},
	}
	for _, tt := range tests {
		if got := humanDuration(tt.d); got != tt.want {
			t.Errorf("humanDuration(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestPrintNodes(t *testing.T) {
	now := time.Date(2027, 1, 15, 8, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) *time.Time { t := now.Add(-ago); return &t }
	f := &fleet.Fleet{
		Nodes: map[string]*fleet.NodeView{
			"pi-1": {Name: "pi-1", Online: &protocol.Online{Online: true, Time: at(time.Hour), AgentVersion: "v0.3.0"},
				Report: &protocol.NodeReport{Time: *at(5 * time.Second), AgentVersion: "v0.3.0",
					ObservedGenerations: map[string]int64{"remote:node": 2, "remote:group/edge": 3, "static": 1},
					Pods:                []api.PodStatus{{Name: "a", Conditions: []api.PodCondition{{Type: "Ready", Status: "True"}}}, {Name: "b"}}},
				Doc: fleet.Doc{Present: true, Generation: 2}},
			"pi-2": {Name: "pi-2", Online: &protocol.Online{Online: false}},
			"pi-3": {Name: "pi-3", Online: &protocol.Online{Online: true, Instance: "aaaaaaaaaaaaaaaa", NameConflict: "bbbbbbbbbbbbbbbb"}},
		},
		Groups: map[string]fleet.Doc{"edge": {Present: true, Generation: 4}},
	}
	var b strings.Builder
	if err := printNodes(&b, f, now); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME   ONLINE              DESIRED         OBSERVED         PODS   LAST-SEEN   VERSION\n" +
		"pi-1   true                node=2,edge=4   node=2,edge=3*   1/2    5s          v0.3.0\n" +
		"pi-2   false               <none>          <none>           -      <unknown>   <none>\n" +
		"pi-3   true,NameConflict   <none>          <none>           -      <unknown>   <none>\n" +
		"pi-3: two devices use this node name (instances aaaaaaaaaaaaaaaa and bbbbbbbbbbbbbbbb): neither applies " +
		"documents sent to it nor publishes its status; give each device its own nodeName and restart it\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name, yaml string
		brokers    string
		keepAlive  time.Duration
		err        bool
	}{
		{"mqtt section keys", "brokers: [tcp://a:1883, ssl://b:8883]\nusername: u\nkeepAlive: 10s\n", "tcp://a:1883,ssl://b:8883", 10 * time.Second, false},
		{"agent configuration", "nodeName: n1\ndataDir: /x\nmqtt:\n  brokers: [tcp://a:1883]\n", "tcp://a:1883", 30 * time.Second, false},
		{"empty file", "", "", 30 * time.Second, false},
		{"unknown key", "brokers: [tcp://a:1883]\nbrokerz: 1\n", "", 0, true},
		{"not yaml", "brokers: [", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mqttlink.DefaultConfig()
			err := parseConfig([]byte(tt.yaml), &cfg)
			if tt.err {
				if !errors.Is(err, fleet.ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil || strings.Join(cfg.Brokers, ",") != tt.brokers || cfg.KeepAlive != tt.keepAlive {
				t.Fatalf("cfg = %+v, %v", cfg, err)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"apply", "-f", "x.yaml"},                                // no target
		{"apply", "-f", "x.yaml", "--node", "a", "--group", "b"}, // two targets
		{"apply", "--node", "a"},                                 // no file
		{"get", "pods"},                                          // no node
		{"describe", "pod", "x"},
		{"keygen"},
		{"sign", "-f", "x"},
		{"sign", "-f", "x", "--key", "k"}, // no target
		{"sign", "-f", "x", "--key", "k", "--node", "a", "--group", "b"}, // two targets
		{"nope"},
	} {
		var out, errb strings.Builder
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("outpostctl %v = exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
}

func TestDescribeNodeStatusIdentity(t *testing.T) {
	now := time.Date(2027, 1, 15, 8, 0, 0, 0, time.UTC)
	ns := &api.NodeStatus{Time: now.Add(-10 * time.Second), NodeInfo: api.NodeInfo{OperatingSystem: "linux", Architecture: "arm64",
		KernelVersion: "6.6.31", ContainerdVersion: "v2.1.0", InstanceID: "0123456789abcdef", PublicKey: "cHVibGlj"}}
	var b strings.Builder
	describeNodeStatus(&b, ns, now)
	if want := "  Identity:     instance 0123456789abcdef, public key cHVibGlj\n"; !strings.Contains(b.String(), want) {
		t.Fatalf("got\n%s\nwant a line %q", b.String(), want)
	}
}
