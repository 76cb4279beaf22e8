package agent

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/clock"
	"github.com/outpost-edge/outpost/store"
)

// failingStore is a real store whose status writes fail while fail is set
// (a full disk, say).
type failingStore struct {
	*store.Store
	fail   atomic.Bool
	failed atomic.Int32 // calls that failed
}

var errDiskFull = errors.New("no space left on device")

func (f *failingStore) PutPodStatuses(ctx context.Context, sts []api.PodStatus) error {
	if f.fail.Load() {
		f.failed.Add(1)
		return errDiskFull
	}
	return f.Store.PutPodStatuses(ctx, sts)
}

func (f *failingStore) DeletePodStatus(ctx context.Context, src store.Source, name string) error {
	if f.fail.Load() {
		f.failed.Add(1)
		return errDiskFull
	}
	return f.Store.DeletePodStatus(ctx, src, name)
}

// TestStatusWritesAreRetried: a status write or delete that failed is
// written once the store works again, with no further status change to
// wake the manager: only its retry timer.
func TestStatusWritesAreRetried(t *testing.T) {
	real, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer real.Close()
	st := &failingStore{Store: real}
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	m := newStatusManager(st, zerolog.Nop(), clk)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	stored := func() map[string]api.PodStatus {
		sts, err := real.PodStatuses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]api.PodStatus{}
		for _, s := range sts {
			out[s.Name] = s
		}
		return out
	}
	// waitFor advances the clock past the retry until cond holds.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: never", what)
			}
			clk.Advance(statusRetry)
			time.Sleep(5 * time.Millisecond)
		}
	}

	keep := api.PodStatus{Source: string(store.SourceNode), Name: "keep", UID: "u-keep", Phase: api.PodRunning}
	gone := api.PodStatus{Source: string(store.SourceNode), Name: "gone", UID: "u-gone", Phase: api.PodRunning}
	m.set(keep)
	m.set(gone)
	waitFor("first statuses written", func() bool { return len(stored()) == 2 })

	st.fail.Store(true)
	keep.Phase = api.PodSucceeded
	m.set(keep)
	m.remove(gone)
	// Let the manager fail the delete and the write (nothing wakes it
	// afterwards).
	for st.failed.Load() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	st.fail.Store(false)
	waitFor("the failed write and delete retried", func() bool {
		s := stored()
		_, hasGone := s["gone"]
		return s["keep"].Phase == api.PodSucceeded && !hasGone
	})
}
