package nodestatus

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
)

// fakeUsage serves fixed usage by pod uid.
type fakeUsage map[string]PodUsage

func (f fakeUsage) PodUsage(_ context.Context, uid string, _ []string) (PodUsage, error) {
	if uid == "broken" {
		return PodUsage{}, errors.New("cgroup unreadable")
	}
	return f[uid], nil
}

// podOpt shapes a test pod.
type podOpt func(*api.Pod)

func prio(p int32) podOpt { return func(pod *api.Pod) { pod.Spec.Priority = &p } }

func memReq(q string) podOpt {
	return func(pod *api.Pod) {
		pod.Spec.Containers[0].Resources.Requests = api.ResourceList{api.ResourceMemory: api.MustParseQuantity(q)}
	}
}

func diskReq(q string) podOpt {
	return func(pod *api.Pod) {
		pod.Spec.Containers[0].Resources.Requests = api.ResourceList{api.ResourceEphemeralStorage: api.MustParseQuantity(q)}
	}
}

func grace(s int64) podOpt { return func(pod *api.Pod) { pod.Spec.TerminationGracePeriodSeconds = &s } }

func running(name string, opts ...podOpt) RunningPod {
	p := &api.Pod{Metadata: api.ObjectMeta{Name: name}, Spec: api.PodSpec{Containers: []api.Container{{Name: "main", Image: "app"}}}}
	for _, o := range opts {
		o(p)
	}
	return RunningPod{UID: "uid-" + name, Pod: p}
}

func memUse(n int64) PodUsage {
	return PodUsage{Memory: n, Containers: []ContainerUsage{{Name: "main", Memory: n}}}
}

var (
	memMet  = ThresholdMet{Threshold: Threshold{Signal: SignalMemoryAvailable, Quantity: 100 * mi}, Observed: Observation{Available: 80 * mi, Capacity: gi}}
	diskMet = ThresholdMet{Threshold: Threshold{Signal: SignalNodeFSAvailable, Percent: 10}, Observed: Observation{Available: gi, Capacity: 32 * gi}}
	pidMet  = ThresholdMet{Threshold: Threshold{Signal: SignalPIDAvailable, Percent: 5}, Observed: Observation{Available: 100, Capacity: 7000}}
)

func TestRank(t *testing.T) {
	tests := []struct {
		name  string
		met   ThresholdMet
		pods  []RunningPod
		usage fakeUsage
		want  []string
	}{
		{
			name:  "memory: over request first, whatever the priority",
			met:   memMet,
			pods:  []RunningPod{running("low-within", prio(0), memReq("100Mi")), running("high-over", prio(1000), memReq("100Mi"))},
			usage: fakeUsage{"uid-low-within": memUse(90 * mi), "uid-high-over": memUse(110 * mi)},
			want:  []string{"high-over", "low-within"},
		},
		{
			name:  "memory: among pods over request, lower priority first",
			met:   memMet,
			pods:  []RunningPod{running("p10", prio(10), memReq("64Mi")), running("p0", prio(0), memReq("64Mi")), running("pneg", prio(-5), memReq("64Mi"))},
			usage: fakeUsage{"uid-p10": memUse(300 * mi), "uid-p0": memUse(70 * mi), "uid-pneg": memUse(65 * mi)},
			want:  []string{"pneg", "p0", "p10"},
		},
		{
			name:  "memory: priority tie, largest use above request first; unset priority is 0",
			met:   memMet,
			pods:  []RunningPod{running("a", memReq("64Mi")), running("b", prio(0), memReq("32Mi")), running("c", memReq("64Mi"))},
			usage: fakeUsage{"uid-a": memUse(100 * mi), "uid-b": memUse(90 * mi), "uid-c": memUse(150 * mi)},
			want:  []string{"c", "b", "a"},
		},
		{
			name:  "memory: pods without requests exceed as soon as they use memory",
			met:   memMet,
			pods:  []RunningPod{running("requested", memReq("256Mi")), running("idle-best-effort"), running("busy-best-effort"), running("small-best-effort")},
			usage: fakeUsage{"uid-requested": memUse(300 * mi), "uid-busy-best-effort": memUse(200 * mi), "uid-small-best-effort": memUse(10 * mi)},
			// requested exceeds by 44Mi, busy by 200Mi, small by 10Mi; idle uses nothing.
			want: []string{"busy-best-effort", "requested", "small-best-effort", "idle-best-effort"},
		},
		{
			name: "memory: init container request counts as the pod's when larger",
			met:  memMet,
			pods: []RunningPod{
				running("init-heavy", memReq("64Mi"), func(p *api.Pod) {
					p.Spec.InitContainers = []api.Container{{Name: "migrate", Resources: api.Resources{
						Requests: api.ResourceList{api.ResourceMemory: api.MustParseQuantity("512Mi")}}}}
				}),
				running("plain", memReq("64Mi")),
			},
			usage: fakeUsage{"uid-init-heavy": memUse(400 * mi), "uid-plain": memUse(70 * mi)},
			want:  []string{"plain", "init-heavy"},
		},
		{
			name:  "memory: complete ties fall back to name",
			met:   memMet,
			pods:  []RunningPod{running("b"), running("c"), running("a")},
			usage: fakeUsage{"uid-a": memUse(mi), "uid-b": memUse(mi), "uid-c": memUse(mi)},
			want:  []string{"a", "b", "c"},
		},
		{
			name:  "critical pods are never candidates",
			met:   memMet,
			pods:  []RunningPod{running("critical", prio(SystemCriticalPriority)), running("normal", prio(1000))},
			usage: fakeUsage{"uid-critical": memUse(500 * mi), "uid-normal": memUse(mi)},
			want:  []string{"normal"},
		},
		{
			name: "disk: over request first, then priority, then use",
			met:  diskMet,
			pods: []RunningPod{running("within", prio(-10), diskReq("1Gi")), running("big", prio(5)), running("small", prio(5)), running("low", prio(1))},
			usage: fakeUsage{"uid-within": {Disk: 512 * mi}, "uid-big": {Disk: 2 * gi}, "uid-small": {Disk: mi},
				"uid-low": {Disk: mi}},
			want: []string{"low", "big", "small", "within"},
		},
		{
			name:  "pids: priority, then most tasks",
			met:   pidMet,
			pods:  []RunningPod{running("few", prio(0)), running("many", prio(0)), running("important", prio(100))},
			usage: fakeUsage{"uid-few": {PIDs: 3}, "uid-many": {PIDs: 900}, "uid-important": {PIDs: 5000}},
			want:  []string{"many", "few", "important"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEvictor(EvictorConfig{Usage: tt.usage})
			got, err := e.Rank(context.Background(), tt.met, tt.pods)
			if err != nil {
				t.Fatal(err)
			}
			names := make([]string, len(got))
			for i, ev := range got {
				names[i] = ev.Pod.Metadata.Name
				if ev.Reason != ReasonEvicted || ev.Resource != tt.met.Resource() {
					t.Errorf("%s: reason %q resource %q", names[i], ev.Reason, ev.Resource)
				}
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("order %v, want %v", names, tt.want)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	soft := memMet
	soft.Threshold.GracePeriod = time.Minute
	pods := []RunningPod{running("web", memReq("64Mi"), grace(10)), running("db", memReq("64Mi"))}
	usage := fakeUsage{
		"uid-web": {Memory: 130 * mi, Disk: gi, Containers: []ContainerUsage{{Name: "main", Memory: 120 * mi}}},
		"uid-db":  {Memory: 100 * mi, Disk: 3 * gi, Containers: []ContainerUsage{{Name: "main", Memory: 100 * mi}}},
	}
	tests := []struct {
		name      string
		met       []ThresholdMet
		maxGrace  time.Duration
		pods      []RunningPod
		wantPod   string
		wantMsg   string
		wantGrace time.Duration
	}{
		{name: "nothing met", pods: pods},
		{name: "no pods", met: []ThresholdMet{memMet}},
		{
			name: "memory before disk, one pod, hard threshold kills now",
			met:  []ThresholdMet{diskMet, memMet}, pods: pods, wantPod: "web",
			wantMsg: "The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. " +
				"Container main was using 120Mi, request is 64Mi.",
		},
		{
			name: "disk alone",
			met:  []ThresholdMet{diskMet}, pods: pods, wantPod: "db",
			wantMsg: "The node was low on resource: ephemeral-storage. Threshold quantity: 10%, available: 1Gi. " +
				"Pod was using 3Gi of ephemeral storage, request is 0.",
		},
		{
			name: "pids",
			met:  []ThresholdMet{pidMet}, pods: []RunningPod{running("web")}, wantPod: "web",
			wantMsg: "The node was low on resource: pids. Threshold quantity: 5%, available: 100. Pod was using 0 pids.",
		},
		{
			name: "soft threshold: the pod's own grace when shorter",
			met:  []ThresholdMet{soft}, pods: pods, wantPod: "web", wantGrace: 10 * time.Second,
			wantMsg: "The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. " +
				"Container main was using 120Mi, request is 64Mi.",
		},
		{
			name: "soft threshold: capped by MaxPodGracePeriod",
			met:  []ThresholdMet{soft}, pods: pods[1:], maxGrace: 20 * time.Second, wantPod: "db", wantGrace: 20 * time.Second,
			wantMsg: "The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. " +
				"Container main was using 100Mi, request is 64Mi.",
		},
		{
			name: "no container over its request: the pod is named",
			met:  []ThresholdMet{memMet}, pods: []RunningPod{running("quiet", memReq("64Mi"))}, wantPod: "quiet",
			wantMsg: "The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. " +
				"Pod was using 0, request is 64Mi.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEvictor(EvictorConfig{Usage: usage, MaxPodGracePeriod: tt.maxGrace})
			got, err := e.Evaluate(context.Background(), tt.met, tt.pods)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantPod == "" {
				if len(got) != 0 {
					t.Fatalf("evictions %+v, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d evictions, want 1", len(got))
			}
			ev := got[0]
			if ev.Pod.Metadata.Name != tt.wantPod || ev.UID != "uid-"+tt.wantPod || ev.Message != tt.wantMsg || ev.GracePeriod != tt.wantGrace {
				t.Errorf("eviction %s (%s) grace %v\n msg %q\nwant %s grace %v\n msg %q",
					ev.Pod.Metadata.Name, ev.UID, ev.GracePeriod, ev.Message, tt.wantPod, tt.wantGrace, tt.wantMsg)
			}
		})
	}
}

func TestRankUsageError(t *testing.T) {
	e := NewEvictor(EvictorConfig{Usage: fakeUsage{}})
	_, err := e.Rank(context.Background(), memMet, []RunningPod{{UID: "broken", Pod: running("x").Pod}})
	if err == nil {
		t.Fatal("no error from a failing usage source")
	}
}
