package clock

import (
	"testing"
	"time"
)

func TestFake(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	c := NewFake(t0)
	select {
	case got := <-c.After(0):
		if !got.Equal(t0) {
			t.Errorf("After(0) fired at %v", got)
		}
	default:
		t.Fatal("After(0) did not fire at once")
	}
	a, b := c.After(time.Second), c.After(3*time.Second)
	if w := c.Waiters(); len(w) != 2 || !w[0].Equal(t0.Add(time.Second)) || !c.HasWaiter(t0.Add(3*time.Second)) {
		t.Fatalf("waiters %v", w)
	}
	c.Advance(999 * time.Millisecond)
	select {
	case <-a:
		t.Fatal("fired early")
	default:
	}
	c.Advance(time.Millisecond)
	if got := <-a; !got.Equal(t0.Add(time.Second)) {
		t.Errorf("fired at %v", got)
	}
	c.AdvanceTo(t0.Add(5 * time.Second))
	<-b
	if len(c.Waiters()) != 0 {
		t.Errorf("waiters left: %v", c.Waiters())
	}
	// BlockUntil wakes when another goroutine starts waiting.
	go func() { <-c.After(time.Minute) }()
	if !c.BlockUntil(1, 30*time.Second) {
		t.Fatal("BlockUntil never saw the waiter")
	}
	if c.BlockUntil(2, 10*time.Millisecond) {
		t.Fatal("BlockUntil saw a waiter that does not exist")
	}
	c.Advance(time.Minute)
}
