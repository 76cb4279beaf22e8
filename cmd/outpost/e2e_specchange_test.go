package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
)

func versionPod(version, then string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: says}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: outpost.local/busybox:test
    imagePullPolicy: Never
    command: ["sh", "-c", "echo spec %s; %s"]
`, version, then)
}

// TestE2ESpecChangedWhileDown: a pod whose spec changed while the agent was
// down is recreated when it starts, and `outpost logs` shows the new
// spec's container, not the last attempt of the old spec's crash loop.
func TestE2ESpecChangedWhileDown(t *testing.T) {
	n := newNode(t)
	n.appendConfig("pods: {backoffInitial: 1s, backoffMax: 2s}\n")
	n.manifest("says.yaml", versionPod("v1", "exit 1"))
	n.start()
	n.waitPod("says", "restarted twice", func(st api.PodStatus) bool {
		return len(st.ContainerStatuses) == 1 && st.ContainerStatuses[0].RestartCount >= 2
	})
	n.kill9()
	n.manifest("says.yaml", versionPod("v2", "exec sleep 3600"))
	n.start()
	n.waitLogs("says", "spec v2\n")
	n.stop()
}

// waitLogs waits until `outpost logs pod` prints exactly want.
func (n *node) waitLogs(pod, want string) {
	n.t.Helper()
	eventually(n.t, 30*time.Second, pod+" logs "+strings.TrimSpace(want), func() error {
		out, err := n.cli("logs", pod)
		if err != nil || out != want {
			return fmt.Errorf("logs %q, %v", out, err)
		}
		return nil
	})
}
