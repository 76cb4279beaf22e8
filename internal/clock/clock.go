// Package clock is the time that the agent's loops schedule by (pod
// workers, probes, status, reports), so that tests move it instead of
// waiting: Real is the wall clock, Fake a clock that moves only when a test
// advances it.
package clock

import (
	"slices"
	"sync"
	"time"
)

// Clock is the time a loop schedules by.
type Clock interface {
	Now() time.Time
	// After is time.After.
	After(d time.Duration) <-chan time.Time
}

// Real is the wall clock.
type Real struct{}

func (Real) Now() time.Time                         { return time.Now() }
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Fake moves only when told to; an After channel fires once the clock has
// been advanced to its time (at once for d <= 0). Its waits on the wall
// clock (BlockUntil, WaitFor) let a test know that the code under test is
// blocked on the clock before advancing it, instead of sleeping.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	changed chan struct{} // closed and replaced when a waiter is added
}

type waiter struct {
	at time.Time
	c  chan time.Time
}

// NewFake returns a Fake that reads now.
func NewFake(now time.Time) *Fake { return &Fake{now: now, changed: make(chan struct{})} }

func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Fake) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), c: ch})
	close(c.changed)
	c.changed = make(chan struct{})
	return ch
}

// Advance moves the clock by d and fires every After that is due.
func (c *Fake) Advance(d time.Duration) { c.AdvanceTo(c.Now().Add(d)) }

// AdvanceTo sets the clock to t and fires every After that is due.
func (c *Fake) AdvanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(t) {
			kept = append(kept, w)
			continue
		}
		w.c <- t
	}
	c.waiters = kept
}

// Waiters returns the times the pending After calls fire at, earliest first.
func (c *Fake) Waiters() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Time, len(c.waiters))
	for i, w := range c.waiters {
		out[i] = w.at
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// HasWaiter reports whether an After call waits to fire at at.
func (c *Fake) HasWaiter(at time.Time) bool {
	return slices.ContainsFunc(c.Waiters(), func(t time.Time) bool { return t.Equal(at) })
}

// WaitFor waits, at most timeout on the wall clock, until ok holds for the
// pending After times, and reports whether it does.
func (c *Fake) WaitFor(timeout time.Duration, ok func(waiters []time.Time) bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		changed := c.changed
		c.mu.Unlock()
		if ok(c.Waiters()) {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return ok(c.Waiters())
		}
	}
}

// BlockUntil waits, at most timeout on the wall clock, until n After calls
// are pending, and reports whether they are.
func (c *Fake) BlockUntil(n int, timeout time.Duration) bool {
	return c.WaitFor(timeout, func(w []time.Time) bool { return len(w) >= n })
}
