// Package backoff spaces out retries: capped exponential backoff
// (Exponential), which the agent's crash-loop restarts, image pulls and
// service syncs use as it is, and the MQTT link's reconnection Policy, which
// adds full jitter and resets only after a connection stayed up long
// enough. Full jitter (a uniform draw in [0, cap]) is what keeps a fleet from
// reconnecting in lock-step when its broker comes back: every node that lost
// the broker at the same instant picks a different moment to return.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy is the backoff of one link. It is not safe for concurrent use.
type Policy struct {
	// Min is the cap of the first draw, Max the largest cap.
	Min, Max time.Duration
	// Reset is how long a connection must stay up before a loss counts as
	// the first again; a link that flaps keeps backing off.
	Reset time.Duration
	// Rand returns a uniform draw in [0, n); nil uses math/rand/v2.
	Rand func(n int64) int64

	failures int
}

// Failures is the number of consecutive failures counted so far.
func (p *Policy) Failures() int { return p.failures }

// Next counts a failed attempt (or a lost connection) and returns how long to
// wait before the next attempt.
func (p *Policy) Next() time.Duration {
	c := p.cap(p.failures)
	p.failures++
	if c <= 0 {
		return 0
	}
	draw := rand.Int64N
	if p.Rand != nil {
		draw = p.Rand
	}
	return time.Duration(draw(int64(c) + 1))
}

// Connected records that a connection ended after staying up for up: at
// least Reset wipes the failures.
func (p *Policy) Connected(up time.Duration) {
	if up >= p.Reset {
		p.failures = 0
	}
}

// cap is min(Max, Min·2^n).
func (p *Policy) cap(n int) time.Duration { return Exponential(p.Min, p.Max, n+1) }

// Exponential is the wait before the next try after n failures in a row:
// none for n <= 0, then initial doubled n-1 times, at most max (without
// overflow).
func Exponential(initial, max time.Duration, n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := initial
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}
