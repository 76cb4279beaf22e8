package mqtttest

import (
	"sync"
	"time"
)

// Clock is a report.Clock that moves only when told to (Advance), so a
// test can drive a link's status ticks and heartbeats through an hour in a
// second. It does not drive paho's keep-alive, which runs on the wall clock.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []clockWaiter
	added   chan struct{} // buffered(1): a waiter was added
}

type clockWaiter struct {
	at time.Time
	ch chan time.Time
}

// NewClock starts at now.
func NewClock(now time.Time) *Clock { return &Clock{now: now, added: make(chan struct{}, 1)} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, clockWaiter{at: c.now.Add(d), ch: ch})
	select {
	case c.added <- struct{}{}:
	default:
	}
	return ch
}

// Advance moves the clock and fires every After that is due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// Waiters is how many After calls wait now.
func (c *Clock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// BlockUntil waits (on the wall clock, at most timeout) until n After calls
// wait; it reports whether they do.
func (c *Clock) BlockUntil(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for c.Waiters() < n {
		select {
		case <-c.added:
		case <-deadline.C:
			return c.Waiters() >= n
		case <-time.After(time.Millisecond):
			// A waiter added between Waiters and the select was signalled
			// already: poll as well.
		}
	}
	return true
}
