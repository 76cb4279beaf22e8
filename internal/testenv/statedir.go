package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// ownerFile marks a state dir made by StateDir; the test process holds an
// exclusive flock on it while it runs. The kernel drops the lock when the
// process dies however it dies (kill -9, a test timeout, ^C), so a dir
// whose lock can be taken is a leftover nobody will clean.
const ownerFile = ".testenv-owner"

// StateDir makes a short directory /tmp/<prefix>XXXX for an embedded
// containerd's state (shim socket paths are limited in length), and first
// removes what runs of this prefix killed before their cleanup left: their
// containers (in the dir's private runc roots, dir/runc/<namespace>), their shims and
// their mounts. It never touches a dir it did not mark, nor one whose
// test still runs. The caller still removes the dir in its cleanup, after
// stopping what uses it.
func StateDir(t testing.TB, prefix string) string {
	t.Helper()
	sweepStateDirs(t, prefix)
	dir, err := os.MkdirTemp("/tmp", prefix)
	if err != nil {
		t.Fatal(err)
	}
	// Locked before it gets its name, so that no sweeper running at the
	// same time can take the new dir for a leftover.
	tmp := filepath.Join(dir, ownerFile+".new")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, ownerFile)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return dir
}

// sweepStateDirs removes the unlocked state dirs of prefix.
func sweepStateDirs(t testing.TB, prefix string) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join("/tmp", prefix+"*"))
	for _, dir := range dirs {
		f, err := os.Open(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or not a state dir
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close() // its test still runs
			continue
		}
		t.Logf("removing %s, left by a test killed before its cleanup", dir)
		sweep(t, dir)
		f.Close()
	}
}

func sweep(t testing.TB, dir string) {
	// Containers first: runc kills them by their state in the private
	// root, one per containerd namespace (dir/runc/<namespace>).
	roots, _ := filepath.Glob(filepath.Join(dir, "runc", "*"))
	for _, root := range roots {
		out, err := exec.Command("runc", "--root", root, "list", "--quiet").Output()
		if err != nil {
			continue
		}
		for _, id := range strings.Fields(string(out)) {
			exec.Command("runc", "--root", root, "kill", id, "KILL").Run()
			exec.Command("runc", "--root", root, "delete", "--force", id).Run()
		}
	}
	// The shims name the dir's containerd socket on their command line;
	// the path is unique to this dir, so no other test's shim matches.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(dir+"/")) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(p, "/proc/%d/cmdline", &pid); err == nil && pid != os.Getpid() {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
	UnmountUnder(t, dir)
	if err := os.RemoveAll(dir); err != nil {
		t.Logf("sweep %s: %v", dir, err)
	}
}

// UnmountUnder detaches every mount of this mount namespace at or under
// dir, deepest first.
func UnmountUnder(t testing.TB, dir string) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var mounts []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			mounts = append(mounts, f[4])
		}
	}
	slices.Sort(mounts)
	slices.Reverse(mounts)
	for _, m := range mounts {
		unix.Unmount(m, unix.MNT_DETACH)
	}
}
