package runtime

import (
	"os"
	"path/filepath"
	"strconv"
)

// cgroupRoot is where the cgroup filesystems are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// podCgroupDir is pod uid's cgroup in the hierarchy of controller: the
// unified one (v2), or that controller's (v1).
func (r *Runtime) podCgroupDir(uid, controller string) string {
	if r.cgroupV2 {
		return filepath.Join(cgroupRoot, "outpost", "pod"+uid)
	}
	return filepath.Join(cgroupRoot, controller, "outpost", "pod"+uid)
}

// limitPodPids caps the processes of pod uid as a whole (pids.max of its
// cgroup), as kubelet's podPidsLimit: without it a pod forks until the node
// runs out of pids. Written at each container's creation, since runc makes
// the pod's cgroup with the first one; idempotent.
func (r *Runtime) limitPodPids(uid string) error {
	if r.cfg.PidsLimit <= 0 {
		return nil
	}
	return os.WriteFile(filepath.Join(r.podCgroupDir(uid, "pids"), "pids.max"), []byte(strconv.FormatInt(r.cfg.PidsLimit, 10)), 0)
}
