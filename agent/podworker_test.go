package agent

import (
	"strings"
	"testing"
	"time"
)

const otherPod = `apiVersion: v1
kind: Pod
metadata: {name: other}
spec:
  containers: [{name: c, image: 'img:1'}]
`

// hangingPull is a harness whose starts of image slow:1 hang like a pull
// over a dead link.
func hangingPull(t *testing.T) *harness {
	return newHarnessWith(t, func(o *Options) {
		rt := o.Runtime.(*fakeRuntime)
		rt.blockImage, rt.blocked = "slow:1", make(chan string, 4)
	})
}

func waitBlocked(t *testing.T, h *harness) string {
	t.Helper()
	select {
	case uid := <-h.rt.blocked:
		return uid
	case <-time.After(30 * time.Second):
		t.Fatal("the start of slow:1 never began")
		return ""
	}
}

// TestDeleteCancelsBlockedPull: deleting a pod whose image pull hangs
// cancels the pull and removes the pod at once, not when the pull ends.
func TestDeleteCancelsBlockedPull(t *testing.T) {
	h := hangingPull(t)
	h.apply(strings.Replace(crashPod, "img:1", "slow:1", 1))
	uid := waitBlocked(t, h)
	h.apply(otherPod) // "crash" is no longer desired
	deadline := time.Now().Add(30 * time.Second)
	for {
		h.rt.mu.Lock()
		removed := len(h.rt.removedPods) > 0 && h.rt.removedPods[0].uid == uid
		h.rt.mu.Unlock()
		if removed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deleted pod was not removed while its pull hung (cancelled starts: %d)", h.rt.cancelled.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := h.rt.cancelled.Load(); n != 1 {
		t.Fatalf("%d starts cancelled, want 1", n)
	}
}

// TestSpecChangeCancelsBlockedPull: a new spec (another image) cancels the
// hanging pull of the old one and starts the new one.
func TestSpecChangeCancelsBlockedPull(t *testing.T) {
	h := hangingPull(t)
	h.apply(strings.Replace(crashPod, "img:1", "slow:1", 1))
	waitBlocked(t, h)
	h.apply(crashPod) // img:1 now
	h.waitStarts(1)   // the fake records only starts that did not hang
	if n := h.rt.cancelled.Load(); n != 1 {
		t.Fatalf("%d starts cancelled, want 1", n)
	}
}
