package prober

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
)

var (
	ok   = execReply{code: 0}
	fail = execReply{code: 1, out: "boom\n"}
	oops = execReply{err: errors.New("task not found")}
	hang = execReply{hang: true}
)

func execProbe(cmd string, success, failure int32) *api.Probe {
	return &api.Probe{Exec: &api.ExecAction{Command: []string{cmd}},
		PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: success, FailureThreshold: failure}
}

// recorder collects what a worker reports.
type recorder struct {
	mu      sync.Mutex
	results []Result
}

func (r *recorder) on(res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, res)
}

func (r *recorder) take() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.results
	r.results = nil
	return out
}

// Reports expected in the tables (Kind and ContainerID are filled in).
var (
	failQuiet = Result{Output: "boom"}                // failed; state stays false
	failAlive = Result{Success: true, Output: "boom"} // failed below the threshold; state stays true
	becameOK  = Result{Success: true, Changed: true}  // succeeded and crossed to true
	becameBad = Result{Changed: true, Output: "boom"} // failed and crossed to false
	nothing   = Result{Kind: -1}                      // no report for this attempt
)

func TestWorkerThresholds(t *testing.T) {
	tests := []struct {
		name             string
		kind             Kind
		success, failure int32
		replies          []execReply
		want             []Result // one per attempt; nothing = no callback
		wantDone         int      // attempt (1-based) after which the worker stops; 0 = never
	}{
		{"readiness ready on first success", Readiness, 1, 3,
			[]execReply{ok, ok}, []Result{becameOK, nothing}, 0},
		{"readiness failures while not ready change nothing", Readiness, 1, 3,
			[]execReply{fail, fail, fail, fail}, []Result{failQuiet, failQuiet, failQuiet, failQuiet}, 0},
		{"readiness needs successThreshold in a row", Readiness, 2, 3,
			[]execReply{ok, fail, ok, ok, ok}, []Result{nothing, failQuiet, nothing, becameOK, nothing}, 0},
		{"readiness flips back after failureThreshold in a row", Readiness, 1, 2,
			[]execReply{ok, fail, ok, fail, fail, fail, ok},
			[]Result{becameOK, failAlive, nothing, failAlive, becameBad, failQuiet, becameOK}, 0},
		{"liveness success is silent", Liveness, 1, 3,
			[]execReply{ok, ok}, []Result{nothing, nothing}, 0},
		{"liveness failures must be consecutive", Liveness, 1, 3,
			[]execReply{fail, fail, ok, fail, fail, fail},
			[]Result{failAlive, failAlive, nothing, failAlive, failAlive, becameBad}, 6},
		{"liveness threshold 1", Liveness, 1, 1,
			[]execReply{fail}, []Result{becameBad}, 1},
		{"startup succeeds", Startup, 1, 3,
			[]execReply{fail, fail, ok}, []Result{failQuiet, failQuiet, becameOK}, 3},
		{"startup fails for good", Startup, 1, 3,
			[]execReply{fail, fail, fail}, []Result{failQuiet, failQuiet, becameBad}, 3},
		{"runtime errors are retried, then not counted", Liveness, 1, 2,
			[]execReply{fail, oops, oops, oops, fail},
			[]Result{failAlive, nothing, becameBad}, 3},
		{"a retry after a runtime error counts", Liveness, 1, 2,
			[]execReply{fail, oops, fail},
			[]Result{failAlive, becameBad}, 2},
		{"empty output names the exit code", Liveness, 1, 1,
			[]execReply{{code: 3}}, []Result{{Changed: true, Output: `command "check" exited with code 3`}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			ex := newFakeExecer(clock, map[string][]execReply{"check": tt.replies})
			var rec recorder
			w, err := NewWorker(WorkerConfig{Kind: tt.kind, Probe: execProbe("check", tt.success, tt.failure),
				ContainerID: "c1", Execer: ex, Clock: clock, OnResult: rec.on})
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.want {
				done := w.probe(context.Background())
				got := rec.take()
				if want == nothing {
					if len(got) != 0 {
						t.Fatalf("attempt %d: reported %+v, want nothing", i+1, got)
					}
				} else {
					want.Kind, want.ContainerID = tt.kind, "c1"
					if len(got) != 1 || got[0] != want {
						t.Fatalf("attempt %d: reported %+v, want %+v", i+1, got, want)
					}
				}
				if wantDone := i+1 == tt.wantDone; done != wantDone {
					t.Fatalf("attempt %d: done = %v, want %v", i+1, done, wantDone)
				}
			}
			startedClosed := false
			select {
			case <-w.Started():
				startedClosed = true
			default:
			}
			if want := tt.kind == Startup && tt.want[len(tt.want)-1] == becameOK; startedClosed != want {
				t.Errorf("Started closed = %v, want %v", startedClosed, want)
			}
		})
	}
}

func TestResultNeedsRestart(t *testing.T) {
	tests := []struct {
		r    Result
		want bool
	}{
		{Result{Kind: Liveness, Changed: true}, true},
		{Result{Kind: Startup, Changed: true}, true},
		{Result{Kind: Readiness, Changed: true}, false},
		{Result{Kind: Liveness, Output: "boom"}, false},
		{Result{Kind: Startup, Changed: true, Success: true}, false},
	}
	for _, tt := range tests {
		if got := tt.r.NeedsRestart(); got != tt.want {
			t.Errorf("%+v.NeedsRestart() = %v, want %v", tt.r, got, tt.want)
		}
	}
}

func TestNewWorkerRejects(t *testing.T) {
	on := func(Result) {}
	tests := []struct {
		name string
		cfg  WorkerConfig
	}{
		{"no probe", WorkerConfig{Kind: Liveness, OnResult: on}},
		{"no handler", WorkerConfig{Kind: Liveness, Probe: &api.Probe{}, OnResult: on}},
		{"no kind", WorkerConfig{Probe: execProbe("x", 1, 1), OnResult: on}},
		{"no callback", WorkerConfig{Kind: Liveness, Probe: execProbe("x", 1, 1)}},
	}
	for _, tt := range tests {
		if _, err := NewWorker(tt.cfg); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", tt.name, err)
		}
	}
}

// TestWorkerTimeout: an attempt that outlives timeoutSeconds on the
// worker's clock is cancelled and counts as a failure.
func TestWorkerTimeout(t *testing.T) {
	clock := newFakeClock()
	ex := newFakeExecer(clock, map[string][]execReply{"check": {hang}})
	var rec recorder
	w, err := NewWorker(WorkerConfig{Kind: Liveness, Probe: execProbe("check", 1, 1),
		ContainerID: "c1", Execer: ex, Clock: clock, OnResult: rec.on})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	go func() { done <- w.probe(context.Background()) }()
	t0 := clock.Now()
	ex.next(t)
	// The attempt waits for its deadline on the worker's clock, 1 s on.
	waitTimer(t, clock, t0.Add(time.Second))
	clock.Advance(999 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("attempt ended before its timeout")
	default:
	}
	clock.Advance(time.Millisecond)
	if !<-done {
		t.Fatal("worker goes on after liveness failed")
	}
	got := rec.take()
	if len(got) != 1 || !got[0].NeedsRestart() || got[0].Output != `command "check": timed out after 1s` {
		t.Fatalf("reported %+v", got)
	}
}

// runWorkers starts ws and returns a stop function that waits for them.
func runWorkers(t *testing.T, ws ...*Worker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() { w.Run(ctx) })
	}
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return stop
}

// TestWorkerSchedule: the first attempt comes initialDelaySeconds after the
// container started, the next ones every periodSeconds after it.
func TestWorkerSchedule(t *testing.T) {
	tests := []struct {
		name      string
		delay     int32
		startedAt time.Duration // relative to Run
		want      []time.Duration
	}{
		{"no delay", 0, 0, []time.Duration{0, 10 * time.Second, 20 * time.Second}},
		{"delay from start", 5, 0, []time.Duration{5 * time.Second, 15 * time.Second}},
		{"delay counted from an earlier start", 5, -3 * time.Second, []time.Duration{2 * time.Second, 12 * time.Second}},
		{"delay long past", 5, -time.Hour, []time.Duration{0, 10 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			t0 := clock.Now()
			ex := newFakeExecer(clock, nil)
			p := execProbe("check", 1, 3)
			p.InitialDelaySeconds = tt.delay
			w, err := NewWorker(WorkerConfig{Kind: Readiness, Probe: p, ContainerID: "c1", Execer: ex,
				Clock: clock, StartedAt: t0.Add(tt.startedAt), OnResult: func(Result) {}})
			if err != nil {
				t.Fatal(err)
			}
			stop := runWorkers(t, w)
			for _, at := range tt.want {
				if at > 0 {
					waitTimer(t, clock, t0.Add(at))
					clock.AdvanceTo(t0.Add(at))
				}
				if c := ex.next(t); !c.at.Equal(t0.Add(at)) {
					t.Fatalf("attempt at %v, want %v", c.at.Sub(t0), at)
				}
			}
			stop()
			ex.none(t)
		})
	}
}

// TestStartupGating: liveness and readiness wait for the startup probe and
// run as soon as it succeeds; the startup probe then stops.
func TestStartupGating(t *testing.T) {
	clock := newFakeClock()
	t0 := clock.Now()
	ex := newFakeExecer(clock, map[string][]execReply{"startup": {fail, ok}})
	c := &api.Container{Name: "app",
		StartupProbe:   execProbe("startup", 1, 30),
		LivenessProbe:  execProbe("live", 1, 3),
		ReadinessProbe: execProbe("ready", 1, 3),
	}
	var rec recorder
	ws, err := ContainerWorkers(c, WorkerConfig{ContainerID: "c1", Execer: ex, Clock: clock, StartedAt: t0, OnResult: rec.on})
	if err != nil || len(ws) != 3 {
		t.Fatalf("ContainerWorkers = %d workers, %v", len(ws), err)
	}
	// The startup worker runs on its own so that the test sees it return.
	ctx, cancel := context.WithCancel(context.Background())
	startupDone := make(chan struct{})
	go func() { ws[0].Run(ctx); close(startupDone) }()
	t.Cleanup(func() { cancel(); <-startupDone })
	runWorkers(t, ws[1:]...)

	if c := ex.next(t); c.cmd != "startup" || !c.at.Equal(t0) {
		t.Fatalf("first call %+v", c)
	}
	waitTimer(t, clock, t0.Add(10*time.Second))
	ex.none(t) // liveness and readiness are held back
	clock.AdvanceTo(t0.Add(10 * time.Second))
	got := map[string]bool{}
	for range 3 {
		c := ex.next(t)
		if !c.at.Equal(t0.Add(10 * time.Second)) {
			t.Fatalf("%s probed at %v", c.cmd, c.at.Sub(t0))
		}
		got[c.cmd] = true
	}
	if !got["startup"] || !got["live"] || !got["ready"] {
		t.Fatalf("calls after startup: %v", got)
	}
	select {
	case <-startupDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the startup worker goes on after its probe succeeded")
	}
	// The next period probes liveness and readiness only.
	waitTimer(t, clock, t0.Add(20*time.Second))
	clock.AdvanceTo(t0.Add(20 * time.Second))
	got = map[string]bool{}
	for range 2 {
		got[ex.next(t).cmd] = true
	}
	if !got["live"] || !got["ready"] {
		t.Fatalf("calls in the next period: %v", got)
	}
	// Both wait for the period after: nobody else is left to call.
	waitTimers(t, clock, t0.Add(30*time.Second), 2)
	ex.none(t)

	var changes []string
	for _, r := range rec.take() {
		if r.Changed {
			changes = append(changes, r.Kind.String())
		}
	}
	if strings.Join(changes, ",") != "startup,readiness" {
		t.Fatalf("state changes %v, want startup then readiness", changes)
	}
}

// TestRunStops: Run returns when its context ends, whatever it waits for.
func TestRunStops(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(*WorkerConfig)
		reports int
	}{
		{"waiting for startup", func(c *WorkerConfig) { c.StartupGate = make(chan struct{}) }, 0},
		{"in initial delay", func(c *WorkerConfig) { c.Probe.InitialDelaySeconds = 60 }, 0},
		{"between periods", func(c *WorkerConfig) {}, 1},
		{"in a hanging attempt", func(c *WorkerConfig) { c.Probe.Exec.Command = []string{"hang"} }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			ex := newFakeExecer(clock, map[string][]execReply{"hang": {hang}})
			var rec recorder
			cfg := WorkerConfig{Kind: Readiness, Probe: execProbe("check", 1, 3), ContainerID: "c1",
				Execer: ex, Clock: clock, OnResult: rec.on}
			tt.cfg(&cfg)
			w, err := NewWorker(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { w.Run(ctx); close(done) }()
			switch {
			case tt.reports > 0:
				ex.next(t)
				waitTimer(t, clock, clock.Now().Add(10*time.Second)) // asleep after reporting
			case tt.name == "in a hanging attempt":
				ex.next(t)
			default:
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return")
			}
			if got := rec.take(); len(got) != tt.reports {
				t.Fatalf("reported %+v, want %d reports", got, tt.reports)
			}
		})
	}
}
