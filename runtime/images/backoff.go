package images

import (
	"sync"
	"time"

	"github.com/outpost-edge/outpost/internal/backoff"
)

// Defaults of the per-image back-off across Ensure calls, as kubelet's
// ImagePullBackOff.
const (
	DefaultBackoffInitial = 10 * time.Second
	DefaultBackoffMax     = 5 * time.Minute
)

// pullBackoff remembers, per image, the last failed pull and how long to wait
// before the next one: Initial after the first failure, doubling up to Max.
// An entry not updated for 2*Max is forgotten, so an image failing again
// after a long quiet spell starts from Initial.
type pullBackoff struct {
	initial, max time.Duration

	mu      sync.Mutex
	entries map[string]*backoffEntry
}

type backoffEntry struct {
	failures int
	delay    time.Duration
	last     time.Time // of the last failure
	lastErr  error
}

func newBackoff(initial, max time.Duration) *pullBackoff {
	return &pullBackoff{initial: initial, max: max, entries: map[string]*backoffEntry{}}
}

// failed records a failed pull of key at now and returns the new delay.
func (b *pullBackoff) failed(key string, now time.Time, err error) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	switch {
	case !ok || now.Sub(e.last) > 2*b.max:
		e = &backoffEntry{}
		b.entries[key] = e
	}
	e.failures++
	e.delay = backoff.Exponential(b.initial, b.max, e.failures)
	e.last, e.lastErr = now, err
	return e.delay
}

// blocked returns the time left and the last failure when key is in
// back-off at now, and 0 otherwise.
func (b *pullBackoff) blocked(key string, now time.Time) (time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok {
		return 0, nil
	}
	if left := e.last.Add(e.delay).Sub(now); left > 0 {
		return left, e.lastErr
	}
	if now.Sub(e.last) > 2*b.max {
		delete(b.entries, key)
	}
	return 0, nil
}

// succeeded forgets key.
func (b *pullBackoff) succeeded(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.entries, key)
}
