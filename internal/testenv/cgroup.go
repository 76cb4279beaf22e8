package testenv

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// CgroupPIDs lists the processes in the cgroup at path (as a container
// spec names it, e.g. "/outpost/pod<uid>") and its children: on cgroup v2
// the unified tree, on v1 the pids hierarchy (runc puts a container in
// every hierarchy alike). A test that looks at processes looks only at its
// own cgroups, never at the whole machine, where other tests and agents run
// the same commands. A missing cgroup has no processes.
func CgroupPIDs(path string) []int {
	root := "/sys/fs/cgroup"
	var st unix.Statfs_t
	if unix.Statfs(root, &st) == nil && st.Type != unix.CGROUP2_SUPER_MAGIC {
		root = filepath.Join(root, "pids")
	}
	var pids []int
	filepath.WalkDir(filepath.Join(root, path), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// Cmdline is a process's command line with spaces between the arguments,
// or "" when it is gone.
func Cmdline(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(strings.ReplaceAll(string(b), "\x00", " "), " ")
}

// ParentPID is a process's parent, or 0 when it is gone.
func ParentPID(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}
