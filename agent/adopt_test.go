package agent

import (
	"slices"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
)

const probedPod = `apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: 'img:1'
    readinessProbe: {exec: {command: [cat, /ready]}, initialDelaySeconds: 60, periodSeconds: 10}
    livenessProbe: {exec: {command: [test, -f, /alive]}, initialDelaySeconds: 60, periodSeconds: 10, failureThreshold: 2}
  - name: plain
    image: 'img:1'
`

// TestAdoptedContainersAreProbed: after an agent restart, the containers it
// adopts are probed again as after a fresh start: the one with a readiness
// probe is ready once the probe passes, the one without at once, the pod is
// Ready, and a failing liveness probe still restarts its container.
// initialDelaySeconds counts from the container's start: an hour-old
// container is probed at once.
func TestAdoptedContainersAreProbed(t *testing.T) {
	h := newHarness(t)
	h.apply(probedPod)
	starts := h.waitStarts(2)
	h.rt.mu.Lock()
	for _, c := range h.rt.ctrs {
		c.obs.StartedAt = h.clock.Now().Add(-time.Hour)
	}
	h.rt.mu.Unlock()

	h.restart()
	allReady := func(s api.PodStatus) bool {
		if len(s.ContainerStatuses) != 2 || len(s.Conditions) != 3 || s.Conditions[2].Status != api.ConditionTrue {
			return false
		}
		for _, cs := range s.ContainerStatuses {
			if !cs.Ready || !cs.Started || cs.State.Running == nil {
				return false
			}
		}
		return true
	}
	// Ready needs probes run after the sync that adopted the containers,
	// where they would have been restarted.
	st := h.status("probed", allReady)
	if got := h.rt.startList(); !slices.Equal(got, starts) {
		t.Fatalf("containers restarted on adoption: starts %v, were %v", got, starts)
	}
	var webID string
	for _, cs := range st.ContainerStatuses {
		if cs.RestartCount != 0 {
			t.Fatalf("restart count after adoption: %+v", cs)
		}
		if cs.Name == "web" {
			webID = cs.ContainerID
		}
	}
	if h.rt.execCount(webID) == 0 {
		t.Fatalf("no probe ran in the adopted container %s", webID)
	}

	// The liveness probe starts failing: the adopted container is killed
	// and restarted.
	h.rt.mu.Lock()
	h.rt.execCode = func(id string, cmd []string) int {
		if id == webID && slices.Contains(cmd, "/alive") {
			return 1
		}
		return 0
	}
	h.rt.mu.Unlock()
	// Probe periods pass on the fake clock until the container restarts.
	for deadline := time.Now().Add(waitFor); len(h.rt.startList()) < 3 && time.Now().Before(deadline); {
		h.clock.Advance(10 * time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	starts = h.waitStarts(3)
	st = h.status("probed", func(s api.PodStatus) bool {
		for _, cs := range s.ContainerStatuses {
			if cs.Name == "web" {
				return cs.RestartCount == 1 && cs.State.Running != nil && cs.LastState.Terminated != nil
			}
		}
		return false
	})
	if starts[2] == webID {
		t.Fatalf("starts %v", starts)
	}
}

// TestAdoptedPodKeepsStartTime: a pod a restarted agent takes over keeps the
// start time the previous agent reported (its age in get pods), not the
// time of the restart.
func TestAdoptedPodKeepsStartTime(t *testing.T) {
	h := newHarness(t)
	h.apply(crashPod)
	h.waitStarts(1)
	before := h.status("crash", func(s api.PodStatus) bool { return s.Phase == api.PodRunning && s.StartTime != nil })
	h.clock.Advance(time.Hour)
	h.restart()
	// A status the new agent published: its conditions changed after the hour.
	after := h.status("crash", func(s api.PodStatus) bool {
		return s.Phase == api.PodRunning && s.StartTime != nil && len(s.Conditions) > 0 &&
			s.Conditions[0].LastTransitionTime.After(before.StartTime.Add(30*time.Minute))
	})
	if !after.StartTime.Equal(*before.StartTime) {
		t.Fatalf("start time after the restart %v, want the pod's %v", after.StartTime, before.StartTime)
	}
}
