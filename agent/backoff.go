package agent

import (
	"time"

	"github.com/outpost-edge/outpost/internal/backoff"
)

// Backoff is kubelet's crash-loop backoff for one container: the first
// restart waits Initial, each further one twice as long up to Max; a
// container that ran cleanly for Reset before it exited starts over.
type Backoff struct {
	Initial, Max, Reset time.Duration
}

// DefaultBackoff is kubelet's: 10 s doubling to 5 min, reset after 10 min.
var DefaultBackoff = Backoff{Initial: 10 * time.Second, Max: 5 * time.Minute, Reset: 10 * time.Minute}

// backoffState is where one container is in its backoff.
type backoffState struct {
	restarts int // since the last reset
}

// next returns how long to wait before restarting a container that ran for
// ran, and advances the state. As in kubelet, the first restart is at once
// and the waits then grow: 0, 10 s, 20 s, 40 s ... 5 min.
func (b Backoff) next(st *backoffState, ran time.Duration) time.Duration {
	if ran >= b.Reset {
		st.restarts = 0
	}
	wait := backoff.Exponential(b.Initial, b.Max, st.restarts)
	st.restarts++
	return wait
}
