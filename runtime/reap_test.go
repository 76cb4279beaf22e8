package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime/ctrd"
	"github.com/outpost-edge/outpost/runtime/images"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// TestShimWithoutBootstrapIsReaped: an agent killed while a shim started,
// before containerd wrote the task's bootstrap.json, leaves a bundle
// containerd cannot load ("failed to read bootstrap.json"): it removes the
// bundle but the shim runs on. The next runtime kills it and removes its
// socket.
func TestShimWithoutBootstrapIsReaped(t *testing.T) {
	e := newEnv(t, nil)
	_, _, started := e.run(pod(t, hostPod("lost", "exec sleep 3600")))
	if got := testenv.ShimPIDs(e.cfg.StateDir); len(got) != 1 {
		t.Fatalf("shims %v, want one", got)
	}
	if err := e.rt.Close(); err != nil {
		t.Fatal(err)
	}
	e.rt = nil
	bundle := filepath.Join(e.cfg.StateDir, "io.containerd.runtime.v2.task", ctrd.Namespace, started[0].ID)
	if err := os.Remove(filepath.Join(bundle, "bootstrap.json")); err != nil {
		t.Fatal(err)
	}
	e.start()
	if got := testenv.ShimPIDs(e.cfg.StateDir); len(got) != 0 {
		t.Errorf("shims %v left after a restart, want none", got)
	}
	if socks, _ := os.ReadDir(filepath.Join(e.cfg.StateDir, "s")); len(socks) != 0 {
		t.Errorf("%d shim sockets left, want none", len(socks))
	}
	// The container's process went with its task (containerd's `shim
	// delete`) and its shim.
	deadline := time.Now().Add(30 * time.Second)
	for unix.Kill(int(started[0].PID), 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("container process %d outlived its reaped shim", started[0].PID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSnapshotWithoutContainerIsReaped: a container snapshot an agent
// prepared and never recorded a container for is removed when the next
// runtime starts (the attempt it was for may never run again).
func TestSnapshotWithoutContainerIsReaped(t *testing.T) {
	e := newEnv(t, nil)
	ctx := namespaces.WithNamespace(context.Background(), ctrd.Namespace)
	const id = "0123456789ab-main-3"
	// Under a lease, as NewContainer prepares it: the lease (24 h) of the
	// killed agent keeps it from containerd's garbage collection.
	lctx, _, err := e.rt.Client().WithLease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.prepareSnapshot(lctx, id)
	// A container's own snapshot stays.
	_, _, started := e.run(pod(t, hostPod("kept", "exec sleep 3600")))
	e.restart()
	sn := e.rt.Client().SnapshotService(images.DefaultSnapshotter)
	if _, err := sn.Stat(ctx, id); err == nil {
		t.Errorf("snapshot %s of no container survived a restart", id)
	}
	if _, err := sn.Stat(ctx, started[0].ID); err != nil {
		t.Errorf("snapshot of container %s: %v", started[0].ID, err)
	}
}

// TestRemovePodLeavesNothing: removing a pod removes its cgroup directories
// (runc removes a container's, never the pod's parent), and detaches what
// is mounted below its directory instead of deleting through it: a bind of
// a host directory left there keeps the host's files.
func TestRemovePodLeavesNothing(t *testing.T) {
	e := newEnv(t, nil)
	ref, sb, started := e.run(pod(t, hostPod("gone", "exec sleep 3600")))
	ctx := context.Background()
	if err := e.rt.RemoveContainer(ctx, started[0].ID); err != nil {
		t.Fatal(err)
	}
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "precious"), []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	bind := filepath.Join(sb.Dir, "subpaths", started[0].ID, "0")
	if err := os.MkdirAll(bind, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(host, bind, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(bind, unix.MNT_DETACH) })
	cgroups := podCgroupDirs(ref.UID)
	if len(cgroups) == 0 {
		t.Fatalf("no cgroup directory of pod %s while it ran", ref.UID)
	}
	if err := e.rt.RemovePod(ctx, ref.UID, false); err != nil {
		t.Fatalf("remove pod: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(host, "precious")); err != nil || string(b) != "keep me" {
		t.Errorf("a host file bound below the pod dir: %q, %v", b, err)
	}
	if _, err := os.Stat(sb.Dir); !os.IsNotExist(err) {
		t.Errorf("pod dir: %v, want it gone", err)
	}
	if left := podCgroupDirs(ref.UID); len(left) != 0 {
		t.Errorf("cgroup directories left: %v", left)
	}
}

// TestSandboxes: a pod's sandbox is listed while it has one, with or
// without containers, and not once removed (its kept logs do not count).
func TestSandboxes(t *testing.T) {
	e := newEnv(t, withPodNetwork(t))
	ctx := context.Background()
	p := pod(t, `apiVersion: v1
kind: Pod
metadata: {name: empty}
spec:
  volumes: [{name: scratch, emptyDir: {medium: Memory}}]
  containers: [{name: main, image: IMAGE}]
`)
	ref := runtimeapi.PodRef{Source: "static", Name: "empty", UID: newUID()}
	sb, err := e.rt.EnsureSandbox(ctx, p, ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.WaitNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := e.rt.Sandboxes(ctx); err != nil || !slices.Equal(got, []string{ref.UID}) {
		t.Fatalf("sandboxes %v, %v; want [%s]", got, err, ref.UID)
	}
	if err := e.rt.RemovePod(ctx, ref.UID, true); err != nil {
		t.Fatal(err)
	}
	if got, err := e.rt.Sandboxes(ctx); err != nil || len(got) != 0 {
		t.Fatalf("sandboxes %v, %v after removal; want none", got, err)
	}
	assertNoMounts(t, sb.Dir)
}

// podCgroupDirs lists the pod's cgroup directories in every hierarchy.
func podCgroupDirs(uid string) []string {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/outpost/pod" + uid)
	v1, _ := filepath.Glob("/sys/fs/cgroup/*/outpost/pod" + uid)
	return append(dirs, v1...)
}

// TestHalfDeletedBundleIsRemoved: containerd deletes a bundle by renaming
// it to ".<id>" and removing that; an agent killed in between leaves a
// hidden bundle containerd skips ever after. The next runtime removes it.
func TestHalfDeletedBundleIsRemoved(t *testing.T) {
	e := newEnv(t, nil)
	hidden := filepath.Join(e.cfg.StateDir, "io.containerd.runtime.v2.task", ctrd.Namespace, ".0123456789ab-main-0")
	if err := os.MkdirAll(filepath.Join(hidden, "rootfs"), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hidden, "config.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.restart()
	if _, err := os.Stat(hidden); !os.IsNotExist(err) {
		t.Fatalf("half-deleted bundle after a restart: %v, want it gone", err)
	}
}
