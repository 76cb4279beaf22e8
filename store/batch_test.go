package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/outpost-edge/outpost/api"
)

// TestBatchConcurrentRecords: events recorded at once from many goroutines
// are all kept, each once; one that fails on its own (too large) gets its
// error and takes none of the others down with it.
func TestBatchConcurrentRecords(t *testing.T) {
	ctx := context.Background()
	s := openT(t, statePath(t), Options{OutboxMaxBytes: 4096})
	const n = 64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprint(i)
			if i == n/2 {
				msg = strings.Repeat("x", 8192)
			}
			errs[i] = s.RecordEvent(ctx, api.Event{Reason: "R", Object: "node", Message: msg})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i == n/2 {
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("the large event: err = %v, want ErrTooLarge", err)
			}
		} else if err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
	evs, err := s.RecentEvents(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range evs {
		seen[e.Message]++
	}
	for i := range n {
		want := 1
		if i == n/2 {
			continue
		}
		if seen[fmt.Sprint(i)] != want {
			t.Errorf("event %d stored %d times, want once", i, seen[fmt.Sprint(i)])
		}
	}
	if len(evs) != n-1 {
		t.Errorf("%d events stored, want %d", len(evs), n-1)
	}
}

// TestBatchPanicIsAnError: concurrent records on a file damaged under the
// open store all return ErrCorrupt; none crashes the process.
func TestBatchPanicIsAnError(t *testing.T) {
	ctx := context.Background()
	path := filledStore(t)
	s := openT(t, path, Options{})
	// The events bucket's pages and the outbox's: every leaf.
	rewritePages(t, path, flagLeaf, func(p []byte) { p[8] = 0x40 })
	rewritePages(t, path, flagBranch, func(p []byte) { p[8] = 0x40 })
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.RecordEvent(ctx, api.Event{Reason: "R", Object: "node", Message: fmt.Sprint(i)})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("record %d: err = %v, want ErrCorrupt", i, err)
		}
	}
}
