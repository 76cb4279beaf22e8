package agent

import (
	"context"
	"testing"
	"time"
)

// TestDrainStopsAPodsContainersTogether: a pod's containers stop at once,
// so draining takes a pod's grace period once, not once per container.
func TestDrainStopsAPodsContainersTogether(t *testing.T) {
	h := newHarness(t)
	h.apply(`apiVersion: v1
kind: Pod
metadata: {name: three}
spec:
  containers: [{name: a, image: 'img:1'}, {name: b, image: 'img:1'}, {name: c, image: 'img:1'}]
`)
	h.waitStarts(3)
	h.rt.stopDelay = 100 * time.Millisecond
	if err := h.a.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := h.rt.maxStopping.Load(); n != 3 {
		t.Fatalf("%d containers were stopping at once, want all 3", n)
	}
}
