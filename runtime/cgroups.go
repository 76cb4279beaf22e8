package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// unifiedCgroups reports whether /sys/fs/cgroup is the cgroup v2 (unified)
// hierarchy, as opposed to v1 or hybrid.
func unifiedCgroups() bool {
	var st unix.Statfs_t
	return unix.Statfs(cgroupRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// podCgroup is a pod's cgroup path, the parent of its containers'.
func podCgroup(uid string) string { return "/outpost/pod" + uid }

// podCgroupDirs are the directories of a pod's cgroup that exist: one on
// cgroup v2, one per hierarchy that has it on v1 (runc makes the path in
// every controller it uses).
func (r *Runtime) podCgroupDirs(uid string) []string {
	var roots []string
	if r.cgroupV2 {
		roots = []string{cgroupRoot}
	} else {
		roots, _ = filepath.Glob(filepath.Join(cgroupRoot, "*"))
	}
	var dirs []string
	for _, root := range roots {
		d := filepath.Join(root, podCgroup(uid))
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// removePodCgroups removes a pod's cgroup directories, its containers'
// below them first. runc removes a container's cgroup when the container
// is deleted but never the pod's, its parent: without this every pod ever
// run would leave one empty directory per hierarchy. A cgroup that still
// has processes cannot be removed (EBUSY) and is reported.
func (r *Runtime) removePodCgroups(uid string) error {
	var errs []error
	for _, dir := range r.podCgroupDirs(uid) {
		var sub []string
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				sub = append(sub, p)
			}
			return nil
		})
		slices.Reverse(sub) // children before their parent
		for _, p := range sub {
			if err := unix.Rmdir(p); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", p, err))
			}
		}
	}
	return errors.Join(errs...)
}

// limitPodPids caps the processes of pod uid as a whole (pids.max of its
// cgroup), as kubelet's podPidsLimit: without it a pod forks until the node
// runs out of pids. Written at each container's creation, since runc makes
// the pod's cgroup with the first one; idempotent.
func (r *Runtime) limitPodPids(uid string) error {
	if r.cfg.PidsLimit <= 0 {
		return nil
	}
	dir := filepath.Join(cgroupRoot, podCgroup(uid))
	if !r.cgroupV2 {
		dir = filepath.Join(cgroupRoot, "pids", podCgroup(uid))
	}
	return os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.FormatInt(r.cfg.PidsLimit, 10)), 0)
}
