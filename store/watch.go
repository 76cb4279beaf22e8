package store

import (
	"context"
	"sync"
)

// notifier wakes watchers after a commit. Each watcher has a buffered(1)
// channel: wakes that arrive while one is pending collapse into it, and the
// writer never blocks on a slow watcher.
type notifier struct {
	mu     sync.Mutex
	chans  map[chan struct{}]struct{}
	closed bool
}

// add registers a channel and closes it when ctx is done or stop closes.
func (n *notifier) add(ctx context.Context, stop <-chan struct{}) <-chan struct{} {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		close(ch)
		return ch
	}
	if n.chans == nil {
		n.chans = map[chan struct{}]struct{}{}
	}
	n.chans[ch] = struct{}{}
	n.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-stop:
		}
		n.remove(ch)
	}()
	return ch
}

func (n *notifier) remove(ch chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.chans[ch]; ok {
		delete(n.chans, ch)
		close(ch)
	}
}

// wake sends without blocking; the lock keeps a send from racing a close.
func (n *notifier) wake() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.chans {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (n *notifier) closeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	for ch := range n.chans {
		delete(n.chans, ch)
		close(ch)
	}
}

// Watch returns a channel that receives after every commit that changed the
// desired state (Apply with a new generation, DeleteSource of a stored
// source). Wakes coalesce: a receiver learns that something changed and reads
// Desired. The channel is closed when ctx is done or the store closes.
func (s *Store) Watch(ctx context.Context) <-chan struct{} {
	return s.desiredWatch.add(ctx, s.closed)
}

// WatchOutbox is Watch for the outbox: it receives after every Push and
// RecordEvent, so the link can send without polling.
func (s *Store) WatchOutbox(ctx context.Context) <-chan struct{} {
	return s.outboxWatch.add(ctx, s.closed)
}
