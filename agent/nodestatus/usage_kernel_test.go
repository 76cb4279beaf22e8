package nodestatus

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"
)

// TestCgroupUsageKernel measures a process that the test puts into a pod
// cgroup laid out as the runtime lays it out (cgroup v2, or v1's memory
// and pids hierarchies), after it has written 8 MiB to a tmpfs file
// (shmem, charged to its cgroup and not reclaimable as inactive file).
// make test runs it on the host and in a cgroup v2 guest (internal/vmtest).
func TestCgroupUsageKernel(t *testing.T) {
	testenv.RequireRoot(t)
	const root = "/sys/fs/cgroup"
	uid := fmt.Sprintf("usagetest%d", os.Getpid())
	rel := filepath.Join("outpost", "pod"+uid)
	v2 := fileExists(filepath.Join(root, "cgroup.controllers"))
	var dirs []string // container cgroups to put the process into
	if v2 {
		enableControllers(t, root, "outpost", rel)
		dirs = []string{filepath.Join(root, rel, "main")}
	} else {
		dirs = []string{filepath.Join(root, "memory", rel, "main"), filepath.Join(root, "pids", rel, "main")}
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			testenv.Skip(t, "cannot create a cgroup: "+err.Error())
		}
	}
	shm := filepath.Join("/dev/shm", uid)
	cmd := exec.Command("sh", "-c", `read go; dd if=/dev/zero of="$1" bs=1M count=8 2>/dev/null; echo done; read stop`, "sh", shm)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.Remove(shm)
		for _, d := range dirs {
			// The pod directory goes once the container's is gone; outpost/
			// stays when the runtime uses it.
			for p := d; filepath.Base(p) != "outpost"; p = filepath.Dir(p) {
				if err := rmdirRetry(p); err != nil {
					t.Errorf("cgroup left behind: %v", err)
				}
			}
		}
	})
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
			t.Fatalf("join %s: %v", d, err)
		}
	}
	fmt.Fprintln(stdin, "go")
	buf := make([]byte, 5)
	if n, err := stdout.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "done") {
		t.Fatalf("writer: %q, %v", buf[:n], err)
	}

	got, err := CgroupUsage{}.PodUsage(context.Background(), uid, []string{"main", "absent"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cgroup v2=%v: %+v", v2, got)
	if got.Memory < 8<<20 || got.Memory > 64<<20 {
		t.Errorf("pod working set %d bytes, want 8 MiB of shmem and a little more", got.Memory)
	}
	if got.PIDs != 1 {
		t.Errorf("pod pids %d, want the one shell", got.PIDs)
	}
	if len(got.Containers) != 2 || got.Containers[0].Memory < 8<<20 || got.Containers[1].Memory != 0 {
		t.Errorf("containers %+v, want main with the 8 MiB and absent with none", got.Containers)
	}
}

// enableControllers creates the cgroup v2 directories rels (parents first)
// with memory and pids enabled for their children, as runc does.
func enableControllers(t *testing.T, root string, rels ...string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("+memory +pids"), 0o644); err != nil {
		testenv.Skip(t, "cgroup v2 memory and pids controllers: "+err.Error())
	}
	for _, rel := range rels {
		d := filepath.Join(root, rel)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte("+memory +pids"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// rmdirRetry removes a cgroup directory; the kernel may take a moment to
// let go of a cgroup whose last process just exited.
func rmdirRetry(dir string) error {
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = os.Remove(dir); err == nil || os.IsNotExist(err) {
			return nil
		}
	}
	return err
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
