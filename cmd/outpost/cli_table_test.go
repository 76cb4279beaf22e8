package main

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/agent/localapi"
	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/cli"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) *time.Time { t := t0.Add(-d); return &t }

func pod(name string, containers ...string) *api.Pod {
	p := &api.Pod{Metadata: api.ObjectMeta{Name: name}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, api.Container{Name: c, Image: "busybox"})
	}
	return p
}

func running(name string, ready bool, restarts int32) api.ContainerStatus {
	return api.ContainerStatus{Name: name, Ready: ready, RestartCount: restarts,
		State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: t0.Add(-time.Minute)}}}
}

func TestPrintPods(t *testing.T) {
	crash := api.ContainerStatus{Name: "app", RestartCount: 4,
		State:     api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastState: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 1, Reason: "Error", FinishedAt: t0.Add(-90 * time.Second)}}}
	l := localapi.PodList{Node: "pi-01", Items: []localapi.PodInfo{
		{Source: "static", Pod: pod("web", "nginx", "side"), Status: &api.PodStatus{Phase: api.PodRunning, PodIP: "10.42.0.5",
			StartTime: ago(3*time.Hour + 20*time.Minute), ContainerStatuses: []api.ContainerStatus{running("nginx", true, 0), running("side", true, 0)}}},
		{Source: "remote:node", Pod: pod("api", "app"), Status: &api.PodStatus{Phase: api.PodRunning,
			StartTime: ago(26 * time.Hour), ContainerStatuses: []api.ContainerStatus{crash}}},
		{Source: "static", Pod: &api.Pod{Metadata: api.ObjectMeta{Name: "init"}, Spec: api.PodSpec{
			InitContainers: []api.Container{{Name: "a"}, {Name: "b"}}, Containers: []api.Container{{Name: "c"}}}},
			Status: &api.PodStatus{Phase: api.PodPending, StartTime: ago(5 * time.Second),
				InitContainerStatuses: []api.ContainerStatus{
					{Name: "a", State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}},
					{Name: "b", State: api.ContainerState{Running: &api.ContainerStateRunning{}}}}}},
		{Source: "static", Pod: pod("new", "c")},
		{Source: "static", Status: &api.PodStatus{Name: "gone", Phase: api.PodRunning}},
		{Source: "static", Pod: pod("job", "c"), Status: &api.PodStatus{Phase: api.PodSucceeded, StartTime: ago(8 * 24 * time.Hour),
			ContainerStatuses: []api.ContainerStatus{{Name: "c", State: api.ContainerState{Terminated: &api.ContainerStateTerminated{Reason: "Completed"}}}}}},
	}}
	tests := []struct {
		wide bool
		want string
	}{
		{false, `
NAME   READY   STATUS             RESTARTS      AGE
web    2/2     Running            0             3h20m
api    0/1     CrashLoopBackOff   4 (90s ago)   26h
init   0/1     Init:1/2           0             5s
new    0/1     Pending            0             <unknown>
gone   0/0     Terminating        0             <unknown>
job    0/1     Completed          0             8d
`},
		{true, `
NAME   READY   STATUS             RESTARTS      AGE         IP          NODE    SOURCE
web    2/2     Running            0             3h20m       10.42.0.5   pi-01   static
api    0/1     CrashLoopBackOff   4 (90s ago)   26h         <none>      pi-01   remote:node
init   0/1     Init:1/2           0             5s          <none>      pi-01   static
new    0/1     Pending            0             <unknown>   <none>      pi-01   static
gone   0/0     Terminating        0             <unknown>   <none>      pi-01   static
job    0/1     Completed          0             8d          <none>      pi-01   static
`},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := printPods(&b, l, tt.wide, t0); err != nil {
			t.Fatal(err)
		}
		if got, want := b.String(), strings.TrimPrefix(tt.want, "\n"); got != want {
			t.Errorf("wide=%v:\n%s\nwant:\n%s", tt.wide, got, want)
		}
	}
}

func TestPrintServicesAndNodes(t *testing.T) {
	l := localapi.ServiceList{Items: []localapi.ServiceInfo{
		{Source: "static", Service: api.Service{Metadata: api.ObjectMeta{Name: "web"}, Spec: api.ServiceSpec{
			ClusterIP: "10.43.0.1", Selector: map[string]string{"app": "web", "tier": "fe"},
			Ports: []api.ServicePort{{Port: 80, Protocol: "TCP"}, {Port: 443, NodePort: 30443, Protocol: "TCP"}}, Type: api.ServiceTypeNodePort}},
			Endpoints: &localapi.EndpointCount{Ready: 2, Total: 3}},
		{Source: "static", Service: api.Service{Metadata: api.ObjectMeta{Name: "dns"}, Spec: api.ServiceSpec{
			Ports: []api.ServicePort{{Port: 53, Protocol: "UDP"}}}}},
	}}
	var b bytes.Buffer
	if err := printServices(&b, l, true); err != nil {
		t.Fatal(err)
	}
	want := `NAME   TYPE        CLUSTER-IP   PORT(S)                AGE         ENDPOINTS   SELECTOR          SOURCE
web    NodePort    10.43.0.1    80/TCP,443:30443/TCP   <unknown>   2/3 ready   app=web,tier=fe   static
dns    ClusterIP   <none>       53/UDP                 <unknown>   <unknown>   <none>            static
`
	if b.String() != want {
		t.Errorf("services:\n%s\nwant:\n%s", b.String(), want)
	}

	tests := []struct {
		name string
		node localapi.NodeView
		want string
	}{
		{"not reported", localapi.NodeView{Name: "pi-01", AgentStarted: t0.Add(-10 * time.Minute)}, `NAME    STATUS    AGE   VERSION
pi-01   Unknown   10m   <unknown>
`},
		{"ready with pressure", localapi.NodeView{Name: "pi-01", AgentStarted: t0.Add(-50 * time.Hour), Status: &api.NodeStatus{
			NodeInfo: api.NodeInfo{AgentVersion: "v0.3.0"},
			Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: "True"}, {Type: api.NodeDiskPressure, Status: "True"},
				{Type: api.NodeMemoryPressure, Status: "False"}}}}, `NAME    STATUS               AGE    VERSION
pi-01   Ready,DiskPressure   2d2h   v0.3.0
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printNodes(&b, tt.node, false, t0); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-5 * time.Second, "<invalid>"},
		{0, "0s"},
		{119 * time.Second, "119s"},
		{3*time.Minute + 20*time.Second, "3m20s"},
		{5 * time.Minute, "5m"},
		{45 * time.Minute, "45m"},
		{3*time.Hour + 10*time.Minute, "3h10m"},
		{30 * time.Hour, "30h"},
		{3*24*time.Hour + 5*time.Hour, "3d5h"},
		{300 * 24 * time.Hour, "300d"},
		{(3*365 + 30) * 24 * time.Hour, "3y30d"},
		{10 * 365 * 24 * time.Hour, "10y"},
	}
	for _, tt := range tests {
		if got := humanDuration(tt.d); got != tt.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestDescribePod(t *testing.T) {
	p := pod("web", "nginx")
	p.Metadata.Labels = map[string]string{"app": "web"}
	p.Spec.RestartPolicy = api.RestartAlways
	p.Spec.Containers[0].Ports = []api.ContainerPort{{ContainerPort: 80, Protocol: "TCP"}}
	p.Spec.Containers[0].LivenessProbe = &api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/healthz", Port: api.FromInt(80)},
		TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
	p.Spec.Containers[0].Env = []api.EnvVar{{Name: "MODE", Value: "edge"}}
	cs := running("nginx", true, 1)
	cs.LastState = api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}
	d := localapi.PodDetail{
		PodInfo: localapi.PodInfo{Source: "static", UID: "abc", Pod: p, Status: &api.PodStatus{Phase: api.PodRunning, PodIP: "10.42.0.5",
			Conditions:        []api.PodCondition{{Type: api.PodReady, Status: "True"}},
			ContainerStatuses: []api.ContainerStatus{cs}}},
		Node: "pi-01",
		Events: []api.Event{{Type: "Warning", Reason: "BackOff", Message: "back-off restarting", Time: t0.Add(-2 * time.Minute), Count: 3},
			{Type: "Normal", Reason: "Started", Message: "started nginx", Time: t0.Add(-time.Minute)}},
	}
	var b bytes.Buffer
	if err := describePod(&b, d, t0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Name:             web\n",
		"Source:           static\n",
		"Labels:           app=web\n",
		"Status:           Running\n",
		"IP:               10.42.0.5\n",
		"Containers:\n  nginx:\n",
		"    Port:            80/TCP\n",
		"    State:           Running\n",
		"    Last State:      Terminated\n      Reason:        OOMKilled\n      Exit Code:     137\n      Started:       <unknown>\n",
		"    Restart Count:   1\n",
		"    Liveness:        http-get http://:80/healthz delay=0s timeout=1s period=10s #success=1 #failure=3\n",
		"      MODE:   edge\n",
		"Conditions:\n  Type    Status\n  Ready   True\n",
		"Events:\n  Type      Reason    Age       Message\n",
		"  Warning   BackOff   2m (x3)   back-off restarting\n  Normal    Started   60s       started nginx\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("describe lacks %q:\n%s", want, b.String())
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args []string
		pos  string
		out  string
	}{
		{[]string{"pods", "-o", "wide"}, "pods", "wide"},
		{[]string{"-o=json", "svc"}, "svc", "json"},
		{[]string{"web", "-c", "x", "--", "sh", "-c", "ls -l"}, "web sh -c ls -l", ""},
	}
	for _, tt := range tests {
		var f cliFlags
		fl := newFlagSet()
		f.register(fl)
		o := fl.String("o", "", "")
		fl.String("c", "", "")
		pos, err := cli.ParseInterspersed(fl, tt.args)
		if err != nil || strings.Join(pos, " ") != tt.pos || *o != tt.out {
			t.Errorf("%q: pos %q o %q err %v", tt.args, pos, *o, err)
		}
	}
	if got := strings.Join(splitShortFlags([]string{"web", "-it", "--", "-it"}), " "); got != "web -i -t -- -it" {
		t.Errorf("splitShortFlags: %q", got)
	}
}

func newFlagSet() *flag.FlagSet {
	fl := flag.NewFlagSet("test", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	return fl
}
