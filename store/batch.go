package store

import (
	"context"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// batcher coalesces concurrent writes into one transaction and one fsync
// (group commit). bbolt's own DB.Batch does the same, but commits in a
// goroutine of its own (a timer's), where a panic on a damaged page cannot
// be caught: here the transaction always runs in a caller's goroutine,
// under guard.
type batcher struct {
	commit  sync.Mutex // held by the caller committing a group
	mu      sync.Mutex
	pending []*batchCall
}

type batchCall struct {
	fn   func(tx *bolt.Tx) error
	done chan error // buffered(1): the committer never blocks
}

// batch is update for writes many goroutines make at once (events from
// every pod worker). A caller queues fn, then waits for the commit lock:
// whoever holds it commits everything queued by then, so writes arriving
// during one fsync share the next. fn may run twice if another fn of its
// group fails (the first run is rolled back), so it must not act outside
// the transaction.
func (s *Store) batch(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &batchCall{fn: fn, done: make(chan error, 1)}
	b := &s.batches
	b.mu.Lock()
	b.pending = append(b.pending, c)
	b.mu.Unlock()

	b.commit.Lock()
	defer b.commit.Unlock()
	select {
	case err := <-c.done: // committed by the previous holder
		return err
	default:
	}
	b.mu.Lock()
	group := b.pending
	b.pending = nil
	b.mu.Unlock()
	s.commitGroup(group)
	return <-c.done
}

// commitGroup runs group in one transaction. A fn that fails is taken out
// and run alone, to get its own error, and the others are run again; an
// error of the transaction itself (a failed fsync, ErrCorrupt) is everyone's.
func (s *Store) commitGroup(group []*batchCall) {
	for len(group) > 0 {
		failed := -1
		err := s.guard(context.Background(), func() error {
			return s.db.Update(func(tx *bolt.Tx) error {
				for i, c := range group {
					if err := c.fn(tx); err != nil {
						failed = i
						return err
					}
				}
				return nil
			})
		})
		if failed >= 0 && err != nil && s.failed() == nil {
			c := group[failed]
			group = append(group[:failed:failed], group[failed+1:]...)
			c.done <- s.update(context.Background(), c.fn)
			continue
		}
		for _, c := range group {
			c.done <- err
		}
		return
	}
}
