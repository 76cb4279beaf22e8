package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/testimage"
)

const diskPods = `apiVersion: v1
kind: Pod
metadata: {name: cache}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: cache, emptyDir: {}}]
  containers:
  - name: main
    image: outpost.local/busybox:test
    imagePullPolicy: Never
    volumeMounts: [{name: cache, mountPath: /cache}]
    command: ["sh", "-c", "dd if=/dev/zero of=/cache/blob bs=1M count=8 2>/dev/null; exec sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata: {name: filler}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: outpost.local/busybox:test
    imagePullPolicy: Never
    command: ["sh", "-c", "sleep 2; dd if=/dev/zero of=/fill bs=1M count=80 2>/dev/null; exec sleep 3600"]
`

// TestE2EDiskPressureEvictsTheWriter: the node's data dir is a 128 MiB
// filesystem of its own. One pod keeps 8 MiB in an emptyDir, another then
// writes 80 MiB into its container's root filesystem, which takes the
// node under its nodefs threshold. The writer is evicted, since its
// writable layer counts against it, and the other pod keeps running.
func TestE2EDiskPressureEvictsTheWriter(t *testing.T) {
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
	n.manifest("pods.yaml", diskPods)
	n.start()

	// The evictor looks every 10 s. Between equals it takes names in
	// order, so "cache" would go first if the layer were not counted.
	evicted := n.waitPod("filler", "evicted", func(st api.PodStatus) bool {
		return st.Phase == api.PodFailed && st.Reason == "Evicted"
	})
	if !strings.Contains(evicted.Message, "ephemeral-storage") {
		t.Errorf("eviction message %q does not name the resource", evicted.Message)
	}
	keeper, err := n.pod("cache")
	if err != nil {
		t.Fatal(err)
	}
	if keeper.Phase != api.PodRunning {
		t.Fatalf("keeper is %s (%s: %s), want Running: the wrong pod was evicted", keeper.Phase, keeper.Reason, keeper.Message)
	}
	// With the writer's layer gone the pressure is over: the next round
	// evicts nothing.
	time.Sleep(11 * time.Second)
	if keeper, err = n.pod("cache"); err != nil || keeper.Phase != api.PodRunning {
		t.Fatalf("keeper after the pressure: %+v, %v", keeper, err)
	}
	n.stop()
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
