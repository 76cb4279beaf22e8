// Package backoff spaces out reconnection attempts: capped exponential
// backoff with full jitter, reset only after a connection stayed up long
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

// cap is min(Max, Min·2^n) without overflow.
func (p *Policy) cap(n int) time.Duration {
	c := p.Min
	for i := 0; i < n && c < p.Max; i++ {
		c *= 2
	}
	return min(c, p.Max)
}
