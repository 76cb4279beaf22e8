package prober

import (
	"context"
	"io"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/runtime"
)

// fakeClock is a manual clock: time moves only when a test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []fakeTimer
	changed chan struct{} // closed and replaced whenever a timer is added
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), changed: make(chan struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), c: ch})
	close(c.changed)
	c.changed = make(chan struct{})
	return ch
}

// advanceTo sets the time to t and fires every timer due by then.
func (c *fakeClock) advanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if tm.at.After(t) {
			kept = append(kept, tm)
			continue
		}
		tm.c <- t
	}
	c.timers = kept
}

func (c *fakeClock) advance(d time.Duration) { c.advanceTo(c.Now().Add(d)) }

// waitTimer waits until someone waits for a timer due at at.
func (c *fakeClock) waitTimer(t testing.TB, at time.Time) {
	t.Helper()
	c.waitTimers(t, at, 1)
}

// waitTimers waits until n timers due at at are pending.
func (c *fakeClock) waitTimers(t testing.TB, at time.Time, n int) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		changed := c.changed
		due := 0
		for _, tm := range c.timers {
			if tm.at.Equal(at) {
				due++
			}
		}
		if due >= n {
			c.mu.Unlock()
			return
		}
		var pending []time.Time
		for _, tm := range c.timers {
			pending = append(pending, tm.at)
		}
		c.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			sort.Slice(pending, func(i, j int) bool { return pending[i].Before(pending[j]) })
			t.Fatalf("not %d waiting for %v; pending timers %v", n, at, pending)
		}
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
	clock   *fakeClock
	mu      sync.Mutex
	scripts map[string][]execReply
	calls   chan execCall
}

func newFakeExecer(clock *fakeClock, scripts map[string][]execReply) *fakeExecer {
	return &fakeExecer{clock: clock, scripts: scripts, calls: make(chan execCall, 1000)}
}

func (f *fakeExecer) Exec(ctx context.Context, id string, req runtime.ExecRequest) (int, error) {
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
