package prober

import (
	"context"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/clock"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

func newFakeClock() *clock.Fake { return clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) }

// waitTimer waits until someone waits for a timer due at at.
func waitTimer(t testing.TB, c *clock.Fake, at time.Time) { t.Helper(); waitTimers(t, c, at, 1) }

// waitTimers waits until n timers due at at are pending.
func waitTimers(t testing.TB, c *clock.Fake, at time.Time, n int) {
	t.Helper()
	due := func(w []time.Time) bool {
		return len(slices.DeleteFunc(slices.Clone(w), func(x time.Time) bool { return !x.Equal(at) })) >= n
	}
	if !c.WaitFor(30*time.Second, due) {
		t.Fatalf("not %d waiting for %v; pending timers %v", n, at, c.Waiters())
	}
}

// execCall is one command a fakeExecer ran.
type execCall struct {
	id  string
	cmd string // Cmd[0]
	at  time.Time
}

// execReply is what a fakeExecer answers: an exit code with output, a
// runtime error, or (hang) blocking until ctx ends.
type execReply struct {
	code int
	out  string
	err  error
	hang bool
}

// fakeExecer answers each command name from its own script, in order; an
// exhausted script answers exit 0.
type fakeExecer struct {
	clock   *clock.Fake
	mu      sync.Mutex
	scripts map[string][]execReply
	calls   chan execCall
}

func newFakeExecer(clk *clock.Fake, scripts map[string][]execReply) *fakeExecer {
	return &fakeExecer{clock: clk, scripts: scripts, calls: make(chan execCall, 1000)}
}

func (f *fakeExecer) Exec(ctx context.Context, id string, req runtimeapi.ExecRequest) (int, error) {
	name := req.Cmd[0]
	f.mu.Lock()
	var r execReply
	if s := f.scripts[name]; len(s) > 0 {
		r, f.scripts[name] = s[0], s[1:]
	}
	f.mu.Unlock()
	f.calls <- execCall{id: id, cmd: name, at: f.clock.Now()}
	if r.hang {
		<-ctx.Done()
		return -1, ctx.Err()
	}
	if r.err != nil {
		return -1, r.err
	}
	io.WriteString(req.Stdout, r.out)
	return r.code, nil
}

// next returns the next call, failing the test when none comes in time.
func (f *fakeExecer) next(t testing.TB) execCall {
	t.Helper()
	select {
	case c := <-f.calls:
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("no exec call")
		return execCall{}
	}
}

// none fails the test when a call is pending.
func (f *fakeExecer) none(t testing.TB) {
	t.Helper()
	select {
	case c := <-f.calls:
		t.Fatalf("unexpected exec call %+v", c)
	default:
	}
}
