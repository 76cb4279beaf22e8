package nodestatus

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
)

func newTestCollector(sys *fakeSystem, clk *fakeClock, mod func(*Config)) *Collector {
	cfg := Config{NodeName: "pi", DataDir: "/var/lib/outpost", System: sys, Now: clk.Now,
		AgentVersion: "v0.1.0", ContainerdVersion: "v2.1.0", InstanceID: "0123456789abcdef", PublicKey: "cHVibGlj"}
	if mod != nil {
		mod(&cfg)
	}
	return New(cfg)
}

func collect(t *testing.T, c *Collector) api.NodeStatus {
	t.Helper()
	st, err := c.Collect(context.Background())
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return st
}

func condMap(st api.NodeStatus) map[string]api.NodeCondition {
	m := map[string]api.NodeCondition{}
	for _, c := range st.Conditions {
		m[c.Type] = c
	}
	return m
}

func TestCapacityAndAllocatable(t *testing.T) {
	const memTotal = 1000000 * 1024
	const fsCap = 32 * gi
	tests := []struct {
		name     string
		mod      func(*Config)
		sys      func(*fakeSystem)
		capacity map[string]int64 // cpu in millicores, others in units
		alloc    map[string]int64
	}{
		{
			name:     "defaults: 100m cpu, 128Mi memory and hard thresholds reserved",
			capacity: map[string]int64{"cpu": 4000, "memory": memTotal, "ephemeral-storage": fsCap, "pods": 110},
			alloc: map[string]int64{"cpu": 3900, "memory": memTotal - 128*mi - 100*mi,
				"ephemeral-storage": fsCap - fsCap/10, "pods": 110},
		},
		{
			name: "custom reservations and max pods",
			mod: func(c *Config) {
				c.MaxPods = 20
				c.SystemReserved = api.ResourceList{"cpu": api.MustParseQuantity("500m"),
					"memory": api.MustParseQuantity("256Mi"), "ephemeral-storage": api.MustParseQuantity("2Gi")}
			},
			capacity: map[string]int64{"cpu": 4000, "memory": memTotal, "ephemeral-storage": fsCap, "pods": 20},
			alloc: map[string]int64{"cpu": 3500, "memory": memTotal - 256*mi - 100*mi,
				"ephemeral-storage": fsCap - 2*gi - fsCap/10, "pods": 20},
		},
		{
			name: "empty reservation and soft thresholds only: allocatable is capacity",
			mod: func(c *Config) {
				c.SystemReserved = api.ResourceList{}
				c.Thresholds = []Threshold{{Signal: SignalMemoryAvailable, Quantity: 100 * mi, GracePeriod: time.Minute}}
			},
			capacity: map[string]int64{"cpu": 4000, "memory": memTotal, "ephemeral-storage": fsCap, "pods": 110},
			alloc:    map[string]int64{"cpu": 4000, "memory": memTotal, "ephemeral-storage": fsCap, "pods": 110},
		},
		{
			name: "reservation larger than capacity clamps to zero",
			mod: func(c *Config) {
				c.SystemReserved = api.ResourceList{"cpu": api.MustParseQuantity("8"), "memory": api.MustParseQuantity("2Gi")}
			},
			capacity: map[string]int64{"cpu": 4000, "memory": memTotal},
			alloc:    map[string]int64{"cpu": 0, "memory": 0},
		},
		{
			name:     "online cpus from a list, not the agent's affinity",
			sys:      func(s *fakeSystem) { s.files[pathCPUOnline] = "0,2-3\n"; s.ncpu = 1 },
			capacity: map[string]int64{"cpu": 3000},
		},
		{
			name:     "unreadable cpu list falls back to NumCPU",
			sys:      func(s *fakeSystem) { delete(s.files, pathCPUOnline); s.ncpu = 2 },
			capacity: map[string]int64{"cpu": 2000},
		},
		{
			name: "missing data dir measures its parent",
			sys: func(s *fakeSystem) {
				s.statfs = map[string]FSStats{"/var": {Capacity: 8 * gi, Available: 4 * gi, Inodes: 10, InodesFree: 5}}
			},
			capacity: map[string]int64{"ephemeral-storage": 8 * gi},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := newFakePi()
			if tt.sys != nil {
				tt.sys(sys)
			}
			st := collect(t, newTestCollector(sys, &fakeClock{t0}, tt.mod))
			check := func(what string, got api.ResourceList, want map[string]int64) {
				for name, w := range want {
					q, ok := got[name]
					if !ok {
						t.Errorf("%s[%s] missing", what, name)
						continue
					}
					g := q.Value()
					if name == api.ResourceCPU {
						g = q.MilliValue()
					}
					if g != w {
						t.Errorf("%s[%s] = %d (%s), want %d", what, name, g, q, w)
					}
				}
			}
			check("capacity", st.Capacity, tt.capacity)
			check("allocatable", st.Allocatable, tt.alloc)
		})
	}
}

func TestConditionsFromThresholds(t *testing.T) {
	type want struct{ status, reason string }
	ok := func(reason string) want { return want{api.ConditionFalse, reason} }
	bad := func(reason string) want { return want{api.ConditionTrue, reason} }
	tests := []struct {
		name  string
		sys   func(*fakeSystem)
		mod   func(*Config)
		conds map[string]want
	}{
		{
			name: "healthy",
			conds: map[string]want{
				api.NodeMemoryPressure: ok(ReasonSufficientMemory),
				api.NodeDiskPressure:   ok(ReasonNoDiskPressure),
				api.NodePIDPressure:    ok(ReasonSufficientPID),
				api.NodeReady:          {api.ConditionTrue, ReasonReady},
			},
		},
		{
			name:  "memory below 100Mi",
			sys:   func(s *fakeSystem) { s.files[pathMemInfo] = "MemTotal: 1000000 kB\nMemAvailable: 81920 kB\n" },
			conds: map[string]want{api.NodeMemoryPressure: bad(ReasonInsufficientMemory), api.NodeDiskPressure: ok(ReasonNoDiskPressure)},
		},
		{
			name:  "memory exactly at the threshold is not pressure",
			sys:   func(s *fakeSystem) { s.files[pathMemInfo] = "MemTotal: 1000000 kB\nMemAvailable: 102400 kB\n" },
			conds: map[string]want{api.NodeMemoryPressure: ok(ReasonSufficientMemory)},
		},
		{
			name:  "custom memory threshold",
			mod:   func(c *Config) { c.Thresholds = []Threshold{{Signal: SignalMemoryAvailable, Quantity: 600 * mi}} },
			conds: map[string]want{api.NodeMemoryPressure: bad(ReasonInsufficientMemory), api.NodeDiskPressure: ok(ReasonNoDiskPressure)},
		},
		{
			name: "nodefs below 10%",
			sys: func(s *fakeSystem) {
				s.statfs["/var/lib/outpost"] = FSStats{Capacity: 32 * gi, Available: 3 * gi, Inodes: 100, InodesFree: 90}
			},
			conds: map[string]want{api.NodeDiskPressure: bad(ReasonDiskPressure), api.NodeMemoryPressure: ok(ReasonSufficientMemory)},
		},
		{
			name: "inodes below 5%",
			sys: func(s *fakeSystem) {
				s.statfs["/var/lib/outpost"] = FSStats{Capacity: 32 * gi, Available: 20 * gi, Inodes: 2000000, InodesFree: 50000}
			},
			conds: map[string]want{api.NodeDiskPressure: bad(ReasonDiskPressure)},
		},
		{
			name:  "pids: threads-max is the limit when lower than pid_max",
			sys:   func(s *fakeSystem) { s.files[pathLoadAvg] = "1.00 1.00 1.00 3/6800 999\n" },
			conds: map[string]want{api.NodePIDPressure: bad(ReasonInsufficientPID)},
		},
		{
			name: "pids: pid_max alone",
			sys: func(s *fakeSystem) {
				delete(s.files, pathThreadsMax)
				s.files[pathLoadAvg] = "1.00 1.00 1.00 3/6800 999\n"
			},
			conds: map[string]want{api.NodePIDPressure: ok(ReasonSufficientPID)},
		},
		{
			name: "no thresholds (an empty list, not nil): no pressure at all",
			sys: func(s *fakeSystem) {
				s.files[pathMemInfo] = "MemTotal: 1000000 kB\nMemAvailable: 81920 kB\n"
				s.statfs["/var/lib/outpost"] = FSStats{Capacity: 32 * gi, Available: 1 * gi, Inodes: 2000000, InodesFree: 50000}
				s.files[pathLoadAvg] = "1.00 1.00 1.00 3/6800 999\n"
			},
			mod: func(c *Config) { c.Thresholds = []Threshold{} },
			conds: map[string]want{
				api.NodeMemoryPressure: ok(ReasonSufficientMemory),
				api.NodeDiskPressure:   ok(ReasonNoDiskPressure),
				api.NodePIDPressure:    ok(ReasonSufficientPID),
			},
		},
		{
			name: "not ready",
			mod: func(c *Config) {
				c.Ready = func(context.Context) error { return errors.New("containerd not reachable") }
			},
			conds: map[string]want{api.NodeReady: {api.ConditionFalse, ReasonNotReady}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := newFakePi()
			if tt.sys != nil {
				tt.sys(sys)
			}
			st := collect(t, newTestCollector(sys, &fakeClock{t0}, tt.mod))
			if got := len(st.Conditions); got != 4 {
				t.Fatalf("%d conditions, want 4: %+v", got, st.Conditions)
			}
			if st.Conditions[3].Type != api.NodeReady {
				t.Errorf("last condition %s, want Ready", st.Conditions[3].Type)
			}
			got := condMap(st)
			for typ, w := range tt.conds {
				c := got[typ]
				if c.Status != w.status || c.Reason != w.reason {
					t.Errorf("%s = %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, w.status, w.reason)
				}
				if !c.LastTransitionTime.Equal(t0) {
					t.Errorf("%s LastTransitionTime = %v, want %v", typ, c.LastTransitionTime, t0)
				}
			}
		})
	}
}

func TestPressureMessageNamesThreshold(t *testing.T) {
	sys := newFakePi()
	sys.files[pathMemInfo] = "MemTotal: 1000000 kB\nMemAvailable: 81920 kB\n"
	st := collect(t, newTestCollector(sys, &fakeClock{t0}, nil))
	msg := condMap(st)[api.NodeMemoryPressure].Message
	want := "outpost has insufficient memory available: memory.available is 80Mi, threshold memory.available<100Mi"
	if msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
	if ready := condMap(st)[api.NodeReady]; ready.Status != api.ConditionTrue {
		t.Errorf("pressure must not make the node unready: %+v", ready)
	}
}

// step is one collection in a transition test.
type step struct {
	after     time.Duration // clock advance before collecting
	available int64         // MemAvailable, kB
	status    string        // MemoryPressure status wanted
	lttAt     time.Duration // wanted LastTransitionTime, as an offset from t0
	met       bool          // whether the threshold is met (for eviction)
}

func TestTransitions(t *testing.T) {
	const low, high = 50 * 1024, 500 * 1024 // kB
	tests := []struct {
		name  string
		mod   func(*Config)
		steps []step
	}{
		{
			name: "hard threshold with the default 5m transition period",
			steps: []step{
				{0, high, api.ConditionFalse, 0, false},
				{10 * time.Second, high, api.ConditionFalse, 0, false},
				{10 * time.Second, low, api.ConditionTrue, 20 * time.Second, true},
				{10 * time.Second, low, api.ConditionTrue, 20 * time.Second, true},
				// Recovered, but held True for 5m after the last time it was met.
				{10 * time.Second, high, api.ConditionTrue, 20 * time.Second, false},
				{4 * time.Minute, high, api.ConditionTrue, 20 * time.Second, false},
				{50 * time.Second, high, api.ConditionFalse, 330 * time.Second, false},
				{10 * time.Second, high, api.ConditionFalse, 330 * time.Second, false},
			},
		},
		{
			name: "no transition period",
			mod:  func(c *Config) { c.PressureTransitionPeriod = -1 },
			steps: []step{
				{0, low, api.ConditionTrue, 0, true},
				{10 * time.Second, high, api.ConditionFalse, 10 * time.Second, false},
				{10 * time.Second, low, api.ConditionTrue, 20 * time.Second, true},
			},
		},
		{
			name: "soft threshold waits for its grace period",
			mod: func(c *Config) {
				c.PressureTransitionPeriod = -1
				c.Thresholds = []Threshold{{Signal: SignalMemoryAvailable, Quantity: 100 * mi, GracePeriod: 30 * time.Second}}
			},
			steps: []step{
				{0, low, api.ConditionFalse, 0, false},
				{20 * time.Second, low, api.ConditionFalse, 0, false},
				{10 * time.Second, low, api.ConditionTrue, 30 * time.Second, true},
				// A recovery resets the grace period.
				{10 * time.Second, high, api.ConditionFalse, 40 * time.Second, false},
				{10 * time.Second, low, api.ConditionFalse, 40 * time.Second, false},
				{29 * time.Second, low, api.ConditionFalse, 40 * time.Second, false},
				{1 * time.Second, low, api.ConditionTrue, 80 * time.Second, true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := newFakePi()
			clk := &fakeClock{t0}
			c := newTestCollector(sys, clk, tt.mod)
			for i, s := range tt.steps {
				clk.Advance(s.after)
				sys.files[pathMemInfo] = "MemTotal: 1000000 kB\nMemAvailable: " + strconv.FormatInt(s.available, 10) + " kB\n"
				st := collect(t, c)
				got := condMap(st)[api.NodeMemoryPressure]
				if got.Status != s.status || !got.LastTransitionTime.Equal(t0.Add(s.lttAt)) {
					t.Errorf("step %d: MemoryPressure %s since %v (%s), want %s since %v",
						i, got.Status, got.LastTransitionTime.Sub(t0), got.Message, s.status, s.lttAt)
				}
				if met := len(c.Met()) > 0; met != s.met {
					t.Errorf("step %d: met = %v, want %v", i, met, s.met)
				}
				if ready := condMap(st)[api.NodeReady]; !ready.LastTransitionTime.Equal(t0) {
					t.Errorf("step %d: Ready moved to %v", i, ready.LastTransitionTime)
				}
			}
		})
	}
}

func TestUnobservableSignalIsUnknown(t *testing.T) {
	sys := newFakePi()
	clk := &fakeClock{t0}
	c := newTestCollector(sys, clk, nil)
	collect(t, c)

	delete(sys.files, pathMemInfo)
	sys.statfs = nil
	clk.Advance(time.Minute)
	st, err := c.Collect(context.Background())
	if err == nil {
		t.Fatal("Collect reported no error with meminfo and statfs failing")
	}
	got := condMap(st)
	for _, typ := range []string{api.NodeMemoryPressure, api.NodeDiskPressure} {
		if got[typ].Status != api.ConditionUnknown || got[typ].Reason != ReasonSignalNotObservable ||
			!got[typ].LastTransitionTime.Equal(clk.t) {
			t.Errorf("%s = %+v, want Unknown since now", typ, got[typ])
		}
	}
	if got[api.NodePIDPressure].Status != api.ConditionFalse {
		t.Errorf("PIDPressure = %+v, want False", got[api.NodePIDPressure])
	}
	if _, ok := st.Capacity[api.ResourceMemory]; ok {
		t.Error("memory capacity reported without meminfo")
	}
	if _, ok := st.Capacity[api.ResourceCPU]; !ok {
		t.Error("cpu capacity missing")
	}
}

func TestReadyTransition(t *testing.T) {
	var mu sync.Mutex
	var readyErr error
	clk := &fakeClock{t0}
	c := newTestCollector(newFakePi(), clk, func(cfg *Config) {
		cfg.Ready = func(context.Context) error { mu.Lock(); defer mu.Unlock(); return readyErr }
	})
	collect(t, c)
	mu.Lock()
	readyErr = errors.New("containerd: connection refused")
	mu.Unlock()
	clk.Advance(time.Minute)
	r := condMap(collect(t, c))[api.NodeReady]
	if r.Status != api.ConditionFalse || r.Reason != ReasonNotReady || r.Message != "containerd: connection refused" ||
		!r.LastTransitionTime.Equal(t0.Add(time.Minute)) {
		t.Errorf("Ready = %+v", r)
	}
}

func TestNodeInfo(t *testing.T) {
	tests := []struct {
		name string
		sys  func(*fakeSystem)
		want api.NodeInfo
	}{
		{
			name: "full",
			want: api.NodeInfo{OSImage: "Debian GNU/Linux 12 (bookworm)", KernelVersion: "6.6.31+rpt-rpi-v8",
				BootID: "0f3e1b1c-aaaa-bbbb-cccc-123456789abc", MachineID: "d1f0c2a3b4c5d6e7f8091a2b3c4d5e6f", CgroupVersion: 2},
		},
		{
			name: "cgroup v1, os-release from /usr/lib without PRETTY_NAME, no ids",
			sys: func(s *fakeSystem) {
				delete(s.files, pathCgroup2)
				delete(s.files, pathOSRelease)
				delete(s.files, pathBootID)
				delete(s.files, pathMachineID)
				s.files[pathOSReleaseLib] = "# comment\nNAME='Alpine Linux'\n"
			},
			want: api.NodeInfo{OSImage: "Alpine Linux", KernelVersion: "6.6.31+rpt-rpi-v8", CgroupVersion: 1},
		},
		{
			name: "no os-release",
			sys:  func(s *fakeSystem) { delete(s.files, pathOSRelease) },
			want: api.NodeInfo{OSImage: "Linux", KernelVersion: "6.6.31+rpt-rpi-v8",
				BootID: "0f3e1b1c-aaaa-bbbb-cccc-123456789abc", MachineID: "d1f0c2a3b4c5d6e7f8091a2b3c4d5e6f", CgroupVersion: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := newFakePi()
			if tt.sys != nil {
				tt.sys(sys)
			}
			got := collect(t, newTestCollector(sys, &fakeClock{t0}, nil)).NodeInfo
			want := tt.want
			want.Architecture, want.OperatingSystem = got.Architecture, "linux"
			want.AgentVersion, want.ContainerdVersion = "v0.1.0", "v2.1.0"
			want.InstanceID, want.PublicKey = "0123456789abcdef", "cHVibGlj"
			if got != want || got.Architecture == "" {
				t.Errorf("NodeInfo\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		in      string
		want    Threshold
		wantErr bool
	}{
		{in: "memory.available<100Mi", want: Threshold{Signal: SignalMemoryAvailable, Quantity: 100 * mi}},
		{in: " nodefs.available < 10% ", want: Threshold{Signal: SignalNodeFSAvailable, Percent: 10}},
		{in: "nodefs.inodesFree<5.5%", want: Threshold{Signal: SignalNodeFSInodesFree, Percent: 5.5}},
		{in: "pid.available<1k", want: Threshold{Signal: SignalPIDAvailable, Quantity: 1000}},
		{in: "memory.available>100Mi", wantErr: true},
		{in: "imagefs.available<10%", wantErr: true},
		{in: "memory.available<0", wantErr: true},
		{in: "memory.available<-1Mi", wantErr: true},
		{in: "nodefs.available<0%", wantErr: true},
		{in: "nodefs.available<101%", wantErr: true},
		{in: "nodefs.available<x%", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseThreshold(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidThreshold) {
					t.Fatalf("err = %v, want ErrInvalidThreshold", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestRunPublishesUntilCancelled(t *testing.T) {
	c := newTestCollector(newFakePi(), &fakeClock{t0}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan api.NodeStatus, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, time.Millisecond, func(st api.NodeStatus) {
			select {
			case got <- st:
			default:
			}
		})
	}()
	for range 2 {
		select {
		case st := <-got:
			if st.Name != "pi" || len(st.Conditions) != 4 {
				t.Errorf("published %+v", st)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("nothing published")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
