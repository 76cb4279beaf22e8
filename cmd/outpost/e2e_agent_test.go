package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/store"
)

func httpdPod(name, page string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: outpost.local/busybox:test
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /www && echo %s > /www/index.html && exec httpd -f -p 8080 -h /www"]
`, name, page)
}

// waitServes waits until pod answers HTTP with want.
func (n *node) waitServes(pod, want string) {
	n.t.Helper()
	eventually(n.t, 30*time.Second, pod+" serves "+want, func() error {
		ip := n.podIP(pod)
		if ip == "" {
			return fmt.Errorf("no IP yet")
		}
		body, err := n.httpGet(ip + ":8080")
		if err != nil {
			return err
		}
		if strings.TrimSpace(body) != want {
			return fmt.Errorf("got %q", body)
		}
		return nil
	})
}

// httpdPIDs are the PIDs of the main httpd processes of this node's pods
// (not the children busybox httpd forks for a while to answer a request).
func (n *node) httpdPIDs() []int {
	all := n.podPIDs()
	var pids []int
	for _, pid := range all {
		if testenv.Cmdline(pid) == "httpd -f -p 8080 -h /www" && !slices.Contains(all, testenv.ParentPID(pid)) {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

// TestE2EStaticPods: static pods from the manifest dir start and serve; the
// agent killed with SIGKILL and restarted adopts them without a restart; a
// spec change recreates only the changed pod; a removed file stops its pod.
func TestE2EStaticPods(t *testing.T) {
	n := newNode(t)
	n.manifest("a.yaml", httpdPod("alpha", "alpha-v1"))
	n.manifest("b.yaml", httpdPod("beta", "beta-v1"))
	n.start()
	n.waitServes("alpha", "alpha-v1")
	n.waitServes("beta", "beta-v1")
	before := n.httpdPIDs()
	if len(before) != 2 {
		t.Fatalf("httpd processes %v, want 2", before)
	}

	n.kill9()
	n.start()
	n.waitServes("alpha", "alpha-v1")
	if after := n.httpdPIDs(); !slices.Equal(before, after) {
		t.Fatalf("containers restarted across an agent kill -9: %v then %v", before, after)
	}

	betaPID := pidOfPod(t, n, "beta")
	n.manifest("a.yaml", httpdPod("alpha", "alpha-v2"))
	n.waitServes("alpha", "alpha-v2")
	if pidOfPod(t, n, "beta") != betaPID {
		t.Fatal("changing alpha's spec restarted beta")
	}

	os.Remove(filepath.Join(n.manifests, "b.yaml"))
	eventually(t, 30*time.Second, "beta stopped", func() error {
		if n.podIP("beta") != "" {
			return fmt.Errorf("beta's pod dir is still there")
		}
		if syscall.Kill(betaPID, 0) == nil {
			return fmt.Errorf("beta's httpd %d still runs", betaPID)
		}
		return nil
	})
	n.stop()
}

// pidOfPod finds the httpd PID whose pod has pod's IP (by its hosts file).
func pidOfPod(t testing.TB, n *node, pod string) int {
	t.Helper()
	for _, pid := range n.httpdPIDs() {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/root/etc/hosts", pid))
		if strings.Contains(string(b), "\t"+pod+"\n") {
			return pid
		}
	}
	t.Fatalf("no httpd for pod %s", pod)
	return 0
}

// TestE2EColdBoot: a pod the control plane sent (in the store, source
// remote:node) runs on an agent with no network at all; after a simulated
// power cut (agent, shims and containers killed, /run wiped) the next agent
// brings it back from the store alone.
func TestE2EColdBoot(t *testing.T) {
	n := newNode(t)
	// A control plane is configured but cannot be reached (no network at
	// all in the agent's namespace): the agent must not wait for it.
	n.appendConfig("mqtt: {brokers: [\"tcp://127.0.0.1:1\"]}\n")
	ns, err := api.ParseManifest([]byte(httpdPod("remote", "from-the-store")))
	if err != nil {
		t.Fatal(err)
	}
	ns.Generation = 3
	st, err := store.Open(filepath.Join(n.data, "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(context.Background(), store.SourceNode, ns); err != nil {
		t.Fatal(err)
	}
	st.Close()

	n.start()
	n.waitServes("remote", "from-the-store")
	first := n.httpdPIDs()

	// Power cut: everything dies, /run is empty at the next boot.
	n.kill9()
	killShims(t, n)
	eventually(t, 30*time.Second, "containers gone", func() error {
		if pids := n.httpdPIDs(); len(pids) > 0 {
			return fmt.Errorf("still running: %v", pids)
		}
		return nil
	})
	wipeRun(t, n.state)

	n.start()
	n.waitServes("remote", "from-the-store")
	if second := n.httpdPIDs(); slices.Equal(first, second) {
		t.Fatal("the pod was not restarted after the power cut (same PID)")
	}
	if out, err := n.cli("status"); err != nil || !strings.Contains(out, "Link:") || strings.Contains(out, "not configured") {
		t.Errorf("status does not show the configured, unreachable link: %v\n%s", err, out)
	}
	n.stop()
}

// killShims kills the shims of the node's embedded containerd (their
// command line names its socket, a path of this node's own), which takes
// their containers down.
func killShims(t testing.TB, n *node) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), n.state+"/containerd.sock") {
			continue
		}
		var pid int
		fmt.Sscanf(p, "/proc/%d/cmdline", &pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	// The containers' processes die with their init (runc kills the
	// container when its shim, the subreaper, goes); kill them outright
	// too, as a power cut would: every process of this node's pods.
	for _, pid := range n.podPIDs() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// podPIDs are the processes of this node's pods: those in the cgroups of
// the pods whose dirs are in its data dir (the runtime puts a pod's
// containers in /outpost/pod<uid>, uids are random), never another node's
// or another test's, whatever they run.
func (n *node) podPIDs() []int {
	dirs, _ := os.ReadDir(filepath.Join(n.data, "pods"))
	var pids []int
	for _, d := range dirs {
		pids = append(pids, testenv.CgroupPIDs("/outpost/pod"+d.Name())...)
	}
	return pids
}

// wipeRun empties the state dir as a reboot empties /run: its mounts (pinned
// namespaces, container root filesystems) go first.
func wipeRun(t testing.TB, state string) {
	t.Helper()
	testenv.UnmountUnder(t, state)
	entries, _ := os.ReadDir(state)
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(state, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}
