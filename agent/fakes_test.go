package agent

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/clock"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
	"github.com/outpost-edge/outpost/store"
)

// fakeRuntime is a hand-written runtime for the agent's logic tests: it
// records starts and stops, and the test decides when containers exit.
type fakeRuntime struct {
	mu      sync.Mutex
	ctrs    map[string]*fakeCtr
	starts  []string // container IDs in start order
	events  chan runtimeapi.Event
	removed []string
	// podsDir, when set, holds the pods' directories (Sandbox.Dir).
	podsDir string
	// sandboxes lists EnsureSandbox's pod uids, removedPods RemovePod's calls.
	sandboxes   []string
	removedPods []removedPod
	// extraSandboxes are sandboxes without a pod (left by a killed agent).
	extraSandboxes []string
	// exitAtOnce makes every container exit with this code before
	// StartContainer even returns (a command that fails instantly);
	// StartContainer then calls exitSeen, if set, before it returns.
	exitAtOnce *int32
	exitSeen   func()
	// startErr, when set, is what StartContainer returns.
	startErr error
	// stopDelay makes StopContainer take that long; maxStopping records
	// how many stops were under way at once.
	stopDelay             time.Duration
	stopping, maxStopping atomic.Int32
	// execCode, when set, gives the exit code of an exec (a probe) in a
	// container; nil: every exec succeeds.
	execCode func(id string, cmd []string) int
	execs    []string // container IDs exec'd in, in order
	// blockImage makes a start of that image wait for its context (a pull
	// that hangs), announcing the pod uid on blocked; cancelled counts
	// the starts so ended. Set before the agent runs.
	blockImage string
	blocked    chan string
	cancelled  atomic.Int32
}

type removedPod struct {
	uid      string
	keepLogs bool
}

type fakeCtr struct {
	obs runtimeapi.Observed
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{ctrs: map[string]*fakeCtr{}, events: make(chan runtimeapi.Event, 100)}
}

func (f *fakeRuntime) EnsureSandbox(_ context.Context, _ *api.Pod, ref runtimeapi.PodRef) (*runtimeapi.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sandboxes = append(f.sandboxes, ref.UID)
	sb := &runtimeapi.Sandbox{UID: ref.UID}
	if f.podsDir != "" {
		sb.Dir = filepath.Join(f.podsDir, ref.UID)
	}
	return sb, nil
}

func (f *fakeRuntime) StartContainer(ctx context.Context, req runtimeapi.StartRequest) (runtimeapi.Started, error) {
	if f.blockImage != "" && req.Container.Image == f.blockImage {
		// A pull that never ends: only the context stops it.
		f.blocked <- req.Ref.UID
		<-ctx.Done()
		f.cancelled.Add(1)
		return runtimeapi.Started{}, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.startErr != nil {
		return runtimeapi.Started{}, f.startErr
	}
	id := fmt.Sprintf("%s-%s-%d", req.Ref.UID[:4], req.Container.Name, req.Attempt)
	f.ctrs[id] = &fakeCtr{obs: runtimeapi.Observed{ID: id, Ref: req.Ref, Container: req.Container.Name, Init: req.Init,
		SpecHash: api.SpecHash(req.Pod), Attempt: req.Attempt, State: runtimeapi.StateRunning, StartedAt: time.Now()}}
	f.starts = append(f.starts, id)
	if f.exitAtOnce != nil {
		c := f.ctrs[id]
		c.obs.State = runtimeapi.StateExited
		c.obs.Exit = runtimeapi.Exit{Code: *f.exitAtOnce, Reason: runtimeapi.ReasonError, ExitedAt: time.Now()}
		f.events <- runtimeapi.Event{Kind: runtimeapi.EventExit, ContainerID: id, Exit: c.obs.Exit}
		if f.exitSeen != nil {
			f.exitSeen()
		}
	}
	return runtimeapi.Started{ID: id, StartedAt: time.Now()}, nil
}

func (f *fakeRuntime) StopContainer(_ context.Context, id string, _ time.Duration) (runtimeapi.Exit, error) {
	if f.stopDelay > 0 {
		n := f.stopping.Add(1)
		for {
			m := f.maxStopping.Load()
			if n <= m || f.maxStopping.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(f.stopDelay) // a container taking its time to exit
		f.stopping.Add(-1)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.ctrs[id]
	if !ok || c.obs.State != runtimeapi.StateRunning {
		return runtimeapi.Exit{}, nil
	}
	c.obs.State = runtimeapi.StateExited
	c.obs.Exit = runtimeapi.Exit{Code: 137, Reason: runtimeapi.ReasonError, ExitedAt: time.Now()}
	return c.obs.Exit, nil
}

func (f *fakeRuntime) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ctrs, id)
	f.removed = append(f.removed, id)
	return nil
}

func (f *fakeRuntime) RemovePod(_ context.Context, uid string, keepLogs bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removedPods = append(f.removedPods, removedPod{uid, keepLogs})
	return nil
}

// Sandboxes are the uids given to EnsureSandbox and not to RemovePod since
// (a pod made again after its removal counts as removed), and extraSandboxes.
func (f *fakeRuntime) Sandboxes(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	live := map[string]bool{}
	for _, uid := range append(f.sandboxes, f.extraSandboxes...) {
		live[uid] = true
	}
	for _, p := range f.removedPods {
		delete(live, p.uid)
	}
	return slices.Sorted(maps.Keys(live)), nil
}

func (f *fakeRuntime) List(context.Context) ([]runtimeapi.Observed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtimeapi.Observed
	for _, c := range f.ctrs {
		out = append(out, c.obs)
	}
	return out, nil
}

func (f *fakeRuntime) Events(context.Context) <-chan runtimeapi.Event { return f.events }

func (f *fakeRuntime) Exec(_ context.Context, id string, req runtimeapi.ExecRequest) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execs = append(f.execs, id)
	if f.execCode == nil {
		return 0, nil
	}
	return f.execCode(id, req.Cmd), nil
}

// execCount is how many execs ran in container id.
func (f *fakeRuntime) execCount(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, e := range f.execs {
		if e == id {
			n++
		}
	}
	return n
}

// exit makes a running container exit with code.
func (f *fakeRuntime) exit(id string, code int32) {
	f.mu.Lock()
	c := f.ctrs[id]
	c.obs.State = runtimeapi.StateExited
	c.obs.Exit = runtimeapi.Exit{Code: code, Reason: runtimeapi.ReasonError, ExitedAt: time.Now()}
	f.mu.Unlock()
	f.events <- runtimeapi.Event{Kind: runtimeapi.EventExit, ContainerID: id, Exit: c.obs.Exit}
}

func (f *fakeRuntime) startList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.starts...)
}

// harness is an agent on a real store with the fake runtime and clock.
type harness struct {
	t     *testing.T
	a     *Agent
	st    *store.Store
	rt    *fakeRuntime
	clock *clock.Fake
	gen   int64

	opts Options
	stop func() // stops the running agent and waits for it
}

func newHarness(t *testing.T) *harness { return newHarnessWith(t, nil) }

func newHarnessWith(t *testing.T, mutate func(*Options)) *harness {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, st: st, rt: newFakeRuntime(), clock: clock.NewFake(time.Unix(1_700_000_000, 0))}
	h.opts = Options{Store: st, Runtime: h.rt, Clock: h.clock, Logger: zerolog.Nop()}
	if mutate != nil {
		mutate(&h.opts)
	}
	h.run()
	t.Cleanup(func() { h.stop(); st.Close() })
	return h
}

func (h *harness) run() {
	a := New(h.opts)
	h.a = a
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	h.stop = func() { cancel(); <-done }
}

// restart stops the agent, leaving its containers running in the fake
// runtime, and starts a new one on the same store and runtime, which
// adopts them.
func (h *harness) restart() {
	h.stop()
	h.run()
}

func (h *harness) apply(doc string) {
	h.t.Helper()
	ns, err := api.ParseManifest([]byte(doc))
	if err != nil {
		h.t.Fatal(err)
	}
	h.gen++
	ns.Generation = h.gen
	if _, err := h.st.Apply(context.Background(), store.SourceNode, ns); err != nil {
		h.t.Fatal(err)
	}
}

// waitStarts waits until n containers were started in total.
func (h *harness) waitStarts(n int) []string {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		if s := h.rt.startList(); len(s) >= n {
			return s
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%d starts, want %d: %v", len(h.rt.startList()), n, h.rt.startList())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// status waits for the pod's status to satisfy ok.
func (h *harness) status(name string, ok func(api.PodStatus) bool) api.PodStatus {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	var last api.PodStatus
	for {
		sts, _ := h.st.PodStatuses(context.Background())
		for _, s := range sts {
			if s.Name == name {
				last = s
				if ok(s) {
					return s
				}
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("status of %s never matched; last: %+v", name, last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitFor bounds the waits for what the agent's goroutines do: generous, as
// a loaded machine can hold them back for seconds; a test that passes
// never waits that long.
const waitFor = 30 * time.Second

// waitTimer waits until something (a pod worker) waits on the fake clock
// for time at exactly: proof that it has acted on what came before and
// now sleeps until then, so that a test can advance the clock to just
// before at and see that nothing happens, with no sleep of its own.
func (h *harness) waitTimer(at time.Time) {
	h.t.Helper()
	if !h.clock.WaitFor(waitFor, func([]time.Time) bool { return h.clock.HasWaiter(at) }) {
		h.t.Fatalf("nothing waits for %v on the clock (now %v; waiting: %v)", at, h.clock.Now(), h.clock.Waiters())
	}
}
