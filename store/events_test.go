package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
)

func TestRecordEvent(t *testing.T) {
	ctx := context.Background()
	s := openT(t, statePath(t), Options{EventsKeep: 5})
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 8 {
		ev := api.Event{Type: api.EventNormal, Reason: fmt.Sprintf("R%d", i), Object: []string{"pod/a", "pod/b"}[i%2], Time: t0.Add(time.Duration(i) * time.Second)}
		if err := s.RecordEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	s = reopen(t, s, Options{EventsKeep: 5})

	reasons := func(evs []api.Event) string {
		var out string
		for _, e := range evs {
			out += e.Reason + " "
		}
		return out
	}
	tests := []struct {
		object string
		limit  int
		want   string
	}{
		{"", 0, "R3 R4 R5 R6 R7 "},
		{"", 2, "R6 R7 "},
		{"pod/a", 0, "R4 R6 "},
		{"pod/b", 1, "R7 "},
		{"pod/c", 0, ""},
	}
	for _, tt := range tests {
		evs, err := s.RecentEvents(ctx, tt.object, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if got := reasons(evs); got != tt.want {
			t.Errorf("RecentEvents(%q, %d) = %q, want %q", tt.object, tt.limit, got, tt.want)
		}
	}

	// Every event also went to the outbox, whatever the ring kept.
	msgs, err := s.Peek(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 8 {
		t.Fatalf("outbox holds %d messages, want 8", len(msgs))
	}
	var ev api.Event
	if err := json.Unmarshal(msgs[0].Payload, &ev); err != nil || msgs[0].Topic != TopicEvents || ev.Reason != "R0" || !ev.Time.Equal(t0) {
		t.Errorf("first outbox message = %s %s (%v), want the R0 event", msgs[0].Topic, msgs[0].Payload, err)
	}

	// A smaller bound trims the ring on the next event.
	s = reopen(t, s, Options{EventsKeep: 2})
	if err := s.RecordEvent(ctx, api.Event{Reason: "R8", Object: "node"}); err != nil {
		t.Fatal(err)
	}
	if evs, _ := s.RecentEvents(ctx, "", 0); reasons(evs) != "R7 R8 " {
		t.Errorf("after shrinking: %q", reasons(evs))
	}
}

func TestRecordEventTooLargeWritesNothing(t *testing.T) {
	ctx := context.Background()
	s := openT(t, statePath(t), Options{OutboxMaxBytes: 100})
	err := s.RecordEvent(ctx, api.Event{Reason: "Big", Message: string(make([]byte, 200))})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("RecordEvent of an event larger than the outbox: %v, want ErrTooLarge", err)
	}
	if evs, _ := s.RecentEvents(ctx, "", 0); len(evs) != 0 {
		t.Errorf("ring holds %d events after a failed record, want 0", len(evs))
	}
}
