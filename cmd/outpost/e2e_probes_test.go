package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/agent/localapi"
	"github.com/outpost-edge/outpost/api"
)

// cli runs an outpost CLI command against the node's agent.
func (n *node) cli(args ...string) (string, error) {
	full := append([]string{args[0], "--config", n.config}, args[1:]...)
	cmd := exec.Command(outpostBinary(n.t), full...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// pod reads a pod's status through `outpost get pods -o json`.
func (n *node) pod(name string) (api.PodStatus, error) {
	out, err := n.cli("get", "pods", "-o", "json")
	if err != nil {
		return api.PodStatus{}, fmt.Errorf("%v: %s", err, out)
	}
	var list localapi.PodList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return api.PodStatus{}, fmt.Errorf("%v: %s", err, out)
	}
	for _, p := range list.Items {
		if p.Name() == name && p.Status != nil {
			return *p.Status, nil
		}
	}
	return api.PodStatus{}, fmt.Errorf("no pod %s in %s", name, out)
}

func (n *node) waitPod(name, what string, ok func(api.PodStatus) bool) api.PodStatus {
	n.t.Helper()
	var st api.PodStatus
	eventually(n.t, 60*time.Second, name+" "+what, func() error {
		var err error
		if st, err = n.pod(name); err != nil {
			return err
		}
		if !ok(st) {
			b, _ := json.Marshal(st)
			return fmt.Errorf("status %s", b)
		}
		return nil
	})
	return st
}

// TestE2EProbesAndRestarts: a failing liveness probe restarts its
// container; readiness follows the probe both ways; a crash loop backs
// off with growing intervals (backoff configured to 1 s so it is short).
func TestE2EProbesAndRestarts(t *testing.T) {
	n := newNode(t)
	n.appendConfig("pods: {backoffInitial: 1s, backoffMax: 8s}\n")
	n.manifest("probes.yaml", `apiVersion: v1
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
    livenessProbe: {exec: {command: [test, -f, /tmp/alive]}, periodSeconds: 1, failureThreshold: 2}
---
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers:
  - {name: c, image: outpost.local/busybox:test, imagePullPolicy: Never, command: [sh, -c, "exit 3"]}
`)
	n.start()
	ready := func(s api.PodStatus) bool {
		return len(s.ContainerStatuses) == 1 && s.ContainerStatuses[0].Ready
	}
	n.waitPod("probed", "ready", ready)

	// Readiness flips off and back on.
	if out, err := n.cli("exec", "probed", "--", "rm", "/www/ready"); err != nil {
		t.Fatalf("exec: %v %s", err, out)
	}
	n.waitPod("probed", "not ready", func(s api.PodStatus) bool { return !ready(s) && s.ContainerStatuses[0].State.Running != nil })
	if out, err := n.cli("exec", "probed", "--", "sh", "-c", "echo ok > /www/ready"); err != nil {
		t.Fatalf("exec: %v %s", err, out)
	}
	n.waitPod("probed", "ready again", ready)

	// Liveness failure restarts the container.
	n.cli("exec", "probed", "--", "rm", "/tmp/alive")
	st := n.waitPod("probed", "restarted by liveness", func(s api.PodStatus) bool {
		return s.ContainerStatuses[0].RestartCount >= 1 && s.ContainerStatuses[0].State.Running != nil
	})
	if out, _ := n.cli("describe", "pod", "probed"); !strings.Contains(out, "Unhealthy") || !strings.Contains(out, "liveness probe failed") {
		t.Errorf("describe does not show the liveness failure:\n%s", out)
	}
	_ = st

	// The crash loop: restarts at once, then after 1 s, 2 s, 4 s.
	n.waitPod("crasher", "restarted 4 times", func(s api.PodStatus) bool { return s.ContainerStatuses[0].RestartCount >= 4 })
	out, _ := n.cli("describe", "pod", "crasher")
	for _, want := range []string{"back-off 1s restarting failed container c", "back-off 2s", "back-off 4s"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	st, _ = n.pod("crasher")
	if cs := st.ContainerStatuses[0]; cs.LastState.Terminated == nil || cs.LastState.Terminated.ExitCode != 3 {
		t.Errorf("last state %+v", cs.LastState)
	}
	n.stop()
}
