package agent

import (
	"context"
	"slices"
	"testing"
	"time"
)

// removedPodCalls returns RemovePod's calls so far.
func (f *fakeRuntime) removedPodCalls() []removedPod {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.removedPods)
}

// TestOrphanSandboxRemovedAtStart: a sandbox of a pod that is not desired
// and has no container (an agent killed while removing the pod) is removed
// by the next agent when it starts; a desired pod's is kept.
func TestOrphanSandboxRemovedAtStart(t *testing.T) {
	h := newHarnessWith(t, func(o *Options) { o.KeepLogs = true })
	h.apply(`apiVersion: v1
kind: Pod
metadata: {name: kept}
spec:
  containers: [{name: a, image: 'img:1'}]
`)
	h.waitStarts(1)
	h.stop()
	h.rt.mu.Lock()
	h.rt.extraSandboxes = []string{"gone"}
	kept := h.rt.sandboxes[0]
	h.rt.mu.Unlock()
	h.run()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		calls := h.rt.removedPodCalls()
		if slices.Contains(calls, removedPod{"gone", true}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RemovePod calls %v, want the orphan's (keeping logs)", calls)
		}
	}
	for _, c := range h.rt.removedPodCalls() {
		if c.uid == kept {
			t.Fatalf("the desired pod's sandbox was removed: %v", c)
		}
	}
}

// TestDrainRemovesSandboxWithoutContainers: a pod whose container never
// started has a sandbox but no container to find it by; a drain removes
// it too, keeping its logs.
func TestDrainRemovesSandboxWithoutContainers(t *testing.T) {
	h := newHarness(t)
	// A drain runs with the agent stopped; the running one would remove
	// the sandbox as an orphan at its start, not keeping its logs.
	h.stop()
	h.rt.mu.Lock()
	h.rt.extraSandboxes = []string{"never-started"}
	h.rt.mu.Unlock()
	if err := h.a.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls := h.rt.removedPodCalls(); !slices.Contains(calls, removedPod{"never-started", true}) {
		t.Fatalf("RemovePod calls %v, want the sandbox without containers", calls)
	}
}
