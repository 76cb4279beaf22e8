package runtime_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/runtime"
	"github.com/outpost-edge/outpost/runtime/containerspec"
)

// cgroupFile reads a file of the cgroup at path (as in the spec's
// cgroupsPath) in the pids hierarchy, v1 or v2.
func cgroupFile(t *testing.T, path, file string) string {
	t.Helper()
	root := "/sys/fs/cgroup/pids"
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		root = "/sys/fs/cgroup"
	}
	b, err := os.ReadFile(filepath.Join(root, path, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestPodPidsLimit: a container forks until it cannot: the pod's cgroup
// stops it at the limit, counting the other container's process, and each
// container's cgroup is capped too. Before, pids.max was "max" and a pod
// forked 10,000 processes.
func TestPodPidsLimit(t *testing.T) {
	const limit = 40
	e := newEnv(t, func(c *runtime.Config) { c.PidsLimit = limit })
	p := pod(t, hostPod("forker", "sleep 1000")+`  - name: forker
    image: IMAGE
    imagePullPolicy: Never
    command: ["sh", "-c", "(i=0; while [ $i -lt 60 ]; do sleep 1000 & i=$((i+1)); done); echo spawned; exec sleep 1000"]
`)
	ref, _, started := e.run(p)
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(readLog(t, started[1].LogPath), "spawned") {
		if time.Now().After(deadline) {
			t.Fatalf("the forker never finished: %q", readLog(t, started[1].LogPath))
		}
		time.Sleep(100 * time.Millisecond)
	}
	podCgroup := "outpost/pod" + ref.UID
	if got := cgroupFile(t, podCgroup, "pids.max"); got != "40" {
		t.Errorf("pod pids.max = %s, want %d", got, limit)
	}
	for _, c := range []string{"main", "forker"} {
		if got := cgroupFile(t, podCgroup+"/"+c, "pids.max"); got != "40" {
			t.Errorf("container %s pids.max = %s, want %d", c, got, limit)
		}
	}
	// The subshell that hit the limit has exited: one below it.
	if got := cgroupFile(t, podCgroup, "pids.current"); got != "39" && got != "40" {
		t.Errorf("pod pids.current = %s, want the limit (%d): 63 processes were asked for", got, limit)
	}
	if got := cgroupFile(t, podCgroup+"/main", "pids.current"); got != "1" {
		t.Errorf("the other container has %s processes, want its 1", got)
	}
	if log := readLog(t, started[1].LogPath); !strings.Contains(log, "can't fork") && !strings.Contains(log, "Resource temporarily unavailable") {
		t.Errorf("no fork failed: %q", log)
	}
}

// TestHostNetworkRefused: without runtime.allowHostNetwork a hostNetwork
// pod's container is refused, naming the key.
func TestHostNetworkRefused(t *testing.T) {
	e := newEnv(t, func(c *runtime.Config) { c.Policy.AllowHostNetwork = false })
	err := refuse(e, hostPod("hostnet", "true"))
	if !errors.Is(err, containerspec.ErrForbidden) || !strings.Contains(err.Error(), "hostNetwork: forbidden by node policy (set runtime.allowHostNetwork)") {
		t.Fatalf("err = %v", err)
	}
}
