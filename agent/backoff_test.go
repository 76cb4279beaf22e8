package agent

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := DefaultBackoff
	var st backoffState
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 300 * time.Second, 300 * time.Second}
	for i, w := range want {
		if got := b.next(&st, time.Second); got != w {
			t.Fatalf("restart %d: wait %v, want %v", i+1, got, w)
		}
	}
	if got := b.next(&st, 10*time.Minute); got != 0 {
		t.Fatalf("after 10 min of clean running: %v, want a reset (restart at once)", got)
	}
	if got := b.next(&st, 9*time.Minute); got != 10*time.Second {
		t.Fatalf("after 9 min: %v, want 10s", got)
	}
}
