package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
)

// TestE2ELogsAfterDrain: a drain keeps the pod's logs and the next agent
// starts the pod again with the same uid: its container's attempts go on
// after the kept ones, so `outpost logs` shows the new container and
// `--previous` the last one before the drain.
func TestE2ELogsAfterDrain(t *testing.T) {
	n := newNode(t)
	n.appendConfig("pods: {backoffInitial: 1s, backoffMax: 2s}\n")
	n.manifest("says.yaml", `apiVersion: v1
kind: Pod
metadata: {name: says}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: outpost.local/busybox:test
    imagePullPolicy: Never
    command: ["sh", "-c", "id=$(cat /proc/sys/kernel/random/uuid); echo $id > /tmp/id; echo start $id; touch /tmp/alive; exec sleep 3600"]
    livenessProbe: {exec: {command: [test, -f, /tmp/alive]}, periodSeconds: 1, failureThreshold: 1}
`)
	n.start()
	running := func(restarts int32) func(api.PodStatus) bool {
		return func(s api.PodStatus) bool {
			return len(s.ContainerStatuses) == 1 && s.ContainerStatuses[0].RestartCount == restarts &&
				s.ContainerStatuses[0].State.Running != nil
		}
	}
	n.waitPod("says", "running", running(0))
	// Two restarts by the liveness probe: logs of attempts 1 and 2 are kept.
	for i := int32(1); i <= 2; i++ {
		id := n.containerOutput("says", "cat", "/tmp/id")
		if out, err := n.cli("exec", "says", "--", "rm", "/tmp/alive"); err != nil {
			t.Fatalf("exec: %v %s", err, out)
		}
		n.waitPod("says", fmt.Sprintf("restarted %d times", i), running(i))
		eventually(t, 30*time.Second, "the new container's id", func() error {
			if n.containerOutput("says", "cat", "/tmp/id") == id {
				return fmt.Errorf("still %s", id)
			}
			return nil
		})
	}
	before := n.containerOutput("says", "cat", "/tmp/id")
	n.waitLogs("says", "start "+before+"\n")

	n.stop()
	n.drain()
	n.start()
	var after string
	eventually(t, 30*time.Second, "a new container after the drain", func() error {
		if after = n.containerOutput("says", "cat", "/tmp/id"); after == "" || after == before {
			return fmt.Errorf("id %q", after)
		}
		return nil
	})
	n.waitLogs("says", "start "+after+"\n")
	if out, err := n.cli("logs", "says", "--previous"); err != nil || out != "start "+before+"\n" {
		t.Fatalf("logs --previous %q, %v; want the last container before the drain (%s)", out, err, before)
	}
	// The restart count goes on with the attempts, as after a reboot.
	n.waitPod("says", "restart count 3", running(3))
	n.stop()
}

// containerOutput runs cmd in pod's container and returns its trimmed
// output, "" when it fails.
func (n *node) containerOutput(pod string, cmd ...string) string {
	out, err := n.cli(append([]string{"exec", pod, "--"}, cmd...)...)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}
