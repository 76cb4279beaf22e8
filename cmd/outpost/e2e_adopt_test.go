package main

import (
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
)

// TestE2EAdoptedContainersAreProbed: after the agent is killed with
// SIGKILL and restarted, the container it adopts (the same process) is
// probed again: it becomes Ready once its readiness probe passes, and a
// liveness probe that starts failing afterwards restarts it.
func TestE2EAdoptedContainersAreProbed(t *testing.T) {
	n := newNode(t)
	n.manifest("probed.yaml", `apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: outpost.local/busybox:test
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /www && echo ok > /www/ready && touch /tmp/alive && exec httpd -f -p 8080 -h /www"]
    readinessProbe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 1, failureThreshold: 1}
    livenessProbe: {exec: {command: [test, -f, /tmp/alive]}, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 2}
`)
	n.start()
	ready := func(s api.PodStatus) bool {
		return len(s.ContainerStatuses) == 1 && s.ContainerStatuses[0].Ready && readyCondition(s)
	}
	n.waitPod("probed", "ready", ready)
	pid := pidOfPod(t, n, "probed")

	// Conditions change times are in seconds: let one pass, so that a Ready
	// condition set by the next agent is told from the one stored now.
	time.Sleep(1100 * time.Millisecond)
	n.kill9()
	restarted := time.Now().Truncate(time.Second)
	n.start()
	// Ready as the new agent reports it, not the status the old one stored.
	st := n.waitPod("probed", "ready after the agent's restart", func(s api.PodStatus) bool {
		return ready(s) && !readySince(s).Before(restarted)
	})
	if cs := st.ContainerStatuses[0]; cs.RestartCount != 0 || !cs.Started {
		t.Fatalf("adopted container: %+v", cs)
	}
	if got := pidOfPod(t, n, "probed"); got != pid {
		t.Fatalf("the container was restarted by the agent's restart: pid %d, was %d", got, pid)
	}

	// Its liveness probe runs: failing, it restarts the container.
	if out, err := n.cli("exec", "probed", "--", "rm", "/tmp/alive"); err != nil {
		t.Fatalf("exec: %v %s", err, out)
	}
	n.waitPod("probed", "restarted by its liveness probe", func(s api.PodStatus) bool {
		cs := s.ContainerStatuses[0]
		return cs.RestartCount == 1 && cs.State.Running != nil && cs.LastState.Terminated != nil
	})
	n.waitPod("probed", "ready after the liveness restart", ready)
	if got := pidOfPod(t, n, "probed"); got == pid {
		t.Fatalf("pid %d still runs after the liveness restart", pid)
	}
	n.stop()
}

// readySince is when the pod's Ready condition last changed.
func readySince(s api.PodStatus) time.Time {
	for _, c := range s.Conditions {
		if c.Type == api.PodReady {
			return c.LastTransitionTime
		}
	}
	return time.Time{}
}

func readyCondition(s api.PodStatus) bool {
	for _, c := range s.Conditions {
		if c.Type == api.PodReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}
