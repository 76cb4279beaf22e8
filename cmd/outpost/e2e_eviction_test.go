package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/agent/localapi"
	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/testimage"
)

// writerPod is a busybox pod that writes mib MiB of zeros to file (after a
// two-second pause when late) and then sleeps. With volume set, an emptyDir
// of that name is mounted at /volume.
func writerPod(name, volume, file string, mib int, late bool) string {
	var vol, mount, pause string
	if volume != "" {
		vol = fmt.Sprintf("  volumes: [{name: %s, emptyDir: {}}]\n", volume)
		mount = fmt.Sprintf("    volumeMounts: [{name: %s, mountPath: /%s}]\n", volume, volume)
	}
	if late {
		pause = "sleep 2; "
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 1
%s  containers:
  - name: main
    image: outpost.local/busybox:test
    imagePullPolicy: Never
%s    command: ["sh", "-c", "%sdd if=/dev/zero of=%s bs=1M count=%d 2>/dev/null; exec sleep 3600"]
`, name, vol, mount, pause, file, mib)
}

var diskPods = writerPod("cache", "cache", "/cache/blob", 8, false) + "---\n" +
	writerPod("filler", "", "/fill", 80, true)

// TestE2EDiskPressureEvictsTheWriter: the node's data dir is a 128 MiB
// filesystem of its own. One pod keeps 8 MiB in an emptyDir, another then
// writes 80 MiB into its container's root filesystem, which takes the
// node under its nodefs threshold. The writer is evicted, since its
// writable layer counts against it, and the other pod keeps running.
func TestE2EDiskPressureEvictsTheWriter(t *testing.T) {
	n := newDiskNode(t)
	n.manifest("pods.yaml", diskPods)
	n.start()

	// The evictor looks every 10 s. Between equals it takes names in
	// order, so "cache" would go first if the layer were not counted.
	n.waitEvicted("filler")
	n.wantRunning("cache", "the wrong pod was evicted")
	// With the writer's layer gone the pressure is over: the next round
	// evicts nothing.
	n.waitEvictionRounds(1)
	n.wantRunning("cache", "evicted after the pressure ended")
	if c := n.evictions(); c != 1 {
		t.Fatalf("%d evictions, want the writer's only:\n%s", c, n.logs.String())
	}
	n.stop()
}

var emptyDirPods = writerPod("hog", "scratch", "/scratch/blob", 80, true) + "---\n" +
	writerPod("small", "data", "/data/blob", 4, false)

// TestE2EEvictionFreesTheEmptyDir: on a 128 MiB data dir one pod writes
// 80 MiB into its emptyDir and is evicted for it. The eviction removes the
// pod's directory (its emptyDir; its logs too, as the node is short of
// disk), so the pressure ends with it: the other pod, with a little data
// of its own, keeps running through the next evaluations rather than being
// evicted in turn for what the first one left behind.
func TestE2EEvictionFreesTheEmptyDir(t *testing.T) {
	n := newDiskNode(t)
	n.manifest("pods.yaml", emptyDirPods)
	n.start()

	hog := n.waitEvicted("hog")
	if hog.UID == "" {
		t.Fatalf("evicted pod without uid: %+v", hog)
	}
	dir := filepath.Join(n.data, "pods", hog.UID)
	eventually(t, 30*time.Second, "the evicted pod's directory removed", func() error {
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s is still there (%v)", dir, err)
		}
		return nil
	})
	var fsStat unix.Statfs_t
	if err := unix.Statfs(n.data, &fsStat); err != nil {
		t.Fatal(err)
	}
	if avail := int64(fsStat.Bavail) * fsStat.Bsize; avail < 48<<20 {
		t.Errorf("%d MiB available after the eviction: still under the 48Mi threshold", avail>>20)
	}
	// Two more rounds evict nothing.
	n.waitEvictionRounds(2)
	n.wantRunning("small", "evicted for the files of the pod evicted before it")
	if c := n.evictions(); c != 1 {
		t.Fatalf("%d evictions, want the hog's only:\n%s", c, n.logs.String())
	}
	if hog, err := n.pod("hog"); err != nil || hog.Reason != "Evicted" {
		t.Errorf("hog after the pressure: %+v, %v (readmitted only after 5 minutes)", hog, err)
	}
	n.stop()
}

// waitEvictionRounds returns once k eviction rounds have evaluated the node
// as it was at the call (the evictor runs every nodeStatusInterval, right
// after the node status is written, in the same goroutine). A round counts
// once its status was collected after the call and the next round's status
// is there, which the agent writes only after the round's evaluation.
func (n *node) waitEvictionRounds(k int) {
	n.t.Helper()
	last := time.Now()
	for i := range k + 1 {
		eventually(n.t, 60*time.Second, fmt.Sprintf("node status %d of %d after %s", i+1, k+1, last), func() error {
			out, err := n.cli("get", "node", "-o", "json")
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			var v localapi.NodeView
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			if v.Status == nil || !v.Status.Time.After(last) {
				return fmt.Errorf("no newer node status: %s", out)
			}
			last = v.Status.Time
			return nil
		})
	}
}

// waitEvicted waits until pod name is evicted and checks that the eviction
// names the resource (ephemeral-storage).
func (n *node) waitEvicted(name string) api.PodStatus {
	n.t.Helper()
	st := n.waitPod(name, "evicted", func(st api.PodStatus) bool {
		return st.Phase == api.PodFailed && st.Reason == "Evicted"
	})
	if !strings.Contains(st.Message, "ephemeral-storage") {
		n.t.Errorf("eviction message %q does not name the resource", st.Message)
	}
	return st
}

// wantRunning fails the test unless pod name is Running; why says what
// else it would mean.
func (n *node) wantRunning(name, why string) {
	n.t.Helper()
	st, err := n.pod(name)
	if err != nil {
		n.t.Fatal(err)
	}
	if st.Phase != api.PodRunning {
		n.t.Fatalf("%s is %s (%s: %s), want Running: %s", name, st.Phase, st.Reason, st.Message, why)
	}
}

// evictions counts the evictor's decisions in the agent's log.
func (n *node) evictions() int {
	return strings.Count(n.logs.String(), `"message":"evicting pod"`)
}

// newDiskNode is a node whose data dir is a 128 MiB filesystem of its own,
// with a hard eviction threshold of nodefs.available<48Mi.
func newDiskNode(t *testing.T) *node {
	t.Helper()
	// Mounted before newNode so that it is unmounted after the node's
	// cleanup (cleanups run last-registered first) has removed the pods.
	data := t.TempDir()
	if err := unix.Mount("tmpfs", data, "tmpfs", 0, "size=128m"); err != nil {
		t.Fatalf("tmpfs for the data dir: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(data, unix.MNT_DETACH) })
	n := newNode(t)
	n.data = data
	if _, err := testimage.Build(mkdir(t, filepath.Join(data, "images")), "outpost.local/busybox:test"); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("nodeName: e2e\ndataDir: %s\nmanifestDir: %s\ncontainerd: {stateDir: %s}\n"+
		"log: {format: json, level: debug}\nnode: {evictionHard: [\"nodefs.available<48Mi\"]}\n", data, n.manifests, n.state)
	if err := os.WriteFile(n.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
