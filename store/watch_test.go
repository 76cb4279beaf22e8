package store

import (
	"context"
	"testing"
	"time"
)

func TestWatchCoalesces(t *testing.T) {
	s := openT(t, statePath(t), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	ch := s.Watch(ctx)
	// Nobody reads while 20 applies commit: the writer must not block.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for gen := int64(1); gen <= 20; gen++ {
			mustApply(t, s, SourceNode, testDoc(gen, "a"))
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("applies blocked on an unread watcher")
	}
	select {
	case <-ch:
	default:
		t.Fatal("no wake after 20 applies")
	}
	select {
	case <-ch:
		t.Fatal("wakes were not coalesced")
	default:
	}

	// An apply of the stored document again changes nothing and wakes nobody.
	mustApply(t, s, SourceNode, testDoc(20, "a"))
	// Neither do outbox pushes, which have their own watch.
	push(t, s, "x")
	select {
	case <-ch:
		t.Fatal("woken without a change of desired state")
	default:
	}
	if err := s.DeleteSource(ctx, SourceNode); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("no wake after DeleteSource")
	}

	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("value received after cancel")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
	// The writer still does not block with a cancelled watcher.
	mustApply(t, s, SourceNode, testDoc(21, "a"))
}

func TestWatchOutbox(t *testing.T) {
	s := openT(t, statePath(t), Options{})
	ch := s.WatchOutbox(t.Context())
	push(t, s, "x")
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("no wake after Push")
	}
}
