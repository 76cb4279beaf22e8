package runtime

import "golang.org/x/sys/unix"

// unifiedCgroups reports whether /sys/fs/cgroup is the cgroup v2 (unified)
// hierarchy, as opposed to v1 or hybrid.
func unifiedCgroups() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}
