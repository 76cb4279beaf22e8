package agent

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
)

const (
	diskMessage   = "The node was low on resource: ephemeral-storage. Threshold quantity: 48Mi, available: 30Mi. Pod was using 80Mi of ephemeral storage, request is 0."
	memoryMessage = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. Container c was using 120Mi, request is 64Mi."
	pidsMessage   = "The node was low on resource: pids. Threshold quantity: 5%, available: 3%. Pod was using 900 pids."
)

func evicted(s api.PodStatus) bool { return s.Phase == api.PodFailed && s.Reason == ReasonEvicted }

// TestEvictionRemovesThePodsSandbox: an evicted pod's containers and
// sandbox (network, emptyDirs) are removed as a deleted pod's are. Its logs
// follow Options.KeepLogs, except after a disk-pressure eviction, where
// keeping them could leave the pressure in place.
func TestEvictionRemovesThePodsSandbox(t *testing.T) {
	tests := []struct {
		name     string
		keepLogs bool // Options.KeepLogs
		resource string
		message  string
		wantKeep bool // RemovePod's keepLogs
	}{
		{"disk, logs of deleted pods kept", true, api.ResourceEphemeralStorage, diskMessage, false},
		{"disk, logs of deleted pods dropped", false, api.ResourceEphemeralStorage, diskMessage, false},
		{"memory, logs of deleted pods kept", true, api.ResourceMemory, memoryMessage, true},
		{"memory, logs of deleted pods dropped", false, api.ResourceMemory, memoryMessage, false},
		{"pids, logs of deleted pods kept", true, "pids", pidsMessage, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarnessWith(t, func(o *Options) { o.KeepLogs = tt.keepLogs })
			h.apply(crashPod)
			started := h.waitStarts(1)
			st := h.status("crash", func(s api.PodStatus) bool { return s.Phase == api.PodRunning })
			h.a.Evict(st.UID, tt.resource, tt.message, 0)
			st = h.status("crash", evicted)
			if st.Message != tt.message {
				t.Errorf("message %q, want %q", st.Message, tt.message)
			}
			h.rt.mu.Lock()
			defer h.rt.mu.Unlock()
			if !slices.Equal(h.rt.removed, started) {
				t.Errorf("containers removed %v, want %v", h.rt.removed, started)
			}
			if want := []removedPod{{st.UID, tt.wantKeep}}; !slices.Equal(h.rt.removedPods, want) {
				t.Errorf("RemovePod calls %+v, want %+v", h.rt.removedPods, want)
			}
			if len(h.a.Admitted()) != 0 {
				t.Errorf("the evicted pod still counts as admitted: %+v", h.a.Admitted())
			}
		})
	}
}

const evictedPod = `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  restartPolicy: Never
  volumes: [{name: data, emptyDir: {}}]
  initContainers: [{name: init, image: 'img:1'}]
  containers: [{name: main, image: 'img:1'}, {name: once, image: 'img:1'}]
`

// TestEvictedPodStartsAgainInAFreshSandbox: 5 minutes after its eviction
// the pod is admitted again, gets a new sandbox, runs its init container
// again (its emptyDirs are new) and starts the container the eviction
// stopped as its next attempt, whatever the restart policy; a container
// that had completed before stays completed.
func TestEvictedPodStartsAgainInAFreshSandbox(t *testing.T) {
	h := newHarness(t)
	h.apply(evictedPod)
	initID := h.waitStarts(1)[0]
	h.rt.exit(initID, 0)
	starts := h.waitStarts(3)
	once := starts[1]
	if !strings.Contains(once, "-once-") {
		once = starts[2]
	}
	h.rt.exit(once, 0)
	st := h.status("web", func(s api.PodStatus) bool {
		return s.Phase == api.PodRunning && s.ContainerStatuses[1].State.Terminated != nil
	})
	uid := st.UID
	h.a.Evict(uid, api.ResourceMemory, memoryMessage, 0)
	h.status("web", evicted)

	// The worker has evicted the pod and sleeps until its readmission.
	h.waitTimer(h.clock.Now().Add(readmitAfter))
	h.clock.Advance(readmitAfter - time.Second)
	if n := len(h.rt.startList()); n != 3 {
		t.Fatalf("started again before its 5 minutes: %v", h.rt.startList())
	}
	h.clock.Advance(time.Second)
	starts = h.waitStarts(4)
	if want := uid[:4] + "-init-1"; starts[3] != want {
		t.Fatalf("first start after readmission %s, want %s (all: %v)", starts[3], want, starts)
	}
	h.rt.exit(starts[3], 0)
	starts = h.waitStarts(5)
	if want := uid[:4] + "-main-1"; starts[4] != want {
		t.Fatalf("second start after readmission %s, want %s (all: %v)", starts[4], want, starts)
	}
	// Published at the end of the sync that started main, where once
	// would have been started too.
	st = h.status("web", func(s api.PodStatus) bool {
		return s.Phase == api.PodRunning && s.ContainerStatuses[0].State.Running != nil
	})
	if n := len(h.rt.startList()); n != 5 {
		t.Errorf("starts %v: the completed container must not run again", h.rt.startList())
	}
	main, done := st.ContainerStatuses[0], st.ContainerStatuses[1]
	if main.State.Running == nil || main.RestartCount != 1 || main.LastState.Terminated == nil || main.LastState.Terminated.ExitCode != 137 {
		t.Errorf("main after readmission: %+v, last %+v", main, main.LastState.Terminated)
	}
	if done.State.Terminated == nil || done.State.Terminated.ExitCode != 0 || done.RestartCount != 0 {
		t.Errorf("once after readmission: %+v", done)
	}
	h.rt.mu.Lock()
	defer h.rt.mu.Unlock()
	if want := []string{uid, uid}; !slices.Equal(h.rt.sandboxes, want) {
		t.Errorf("sandboxes made %v, want %v: a fresh one after the eviction", h.rt.sandboxes, want)
	}
}
