package nodestatus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// Without the cgroups the containers need, every container fails to start
// ("no cgroup mount found in mountinfo", or runc's memory limit failing on
// Raspberry Pi OS, whose kernel disables the memory controller unless
// told otherwise) while containerd answers: CheckCgroups names the fix,
// and the node reports Ready False with it.

// ErrCgroups: the node lacks a cgroup controller or mount containers need.
var ErrCgroups = errors.New("cgroups unusable for containers")

// ReasonCgroupsUnusable is the Ready condition's reason when CheckCgroups
// fails.
const ReasonCgroupsUnusable = "OutpostCgroupsUnusable"

const (
	pathMountInfo = "/proc/self/mountinfo"
	pathCgroups   = "/proc/cgroups"
	pathCmdline   = "/proc/cmdline"
	cgroupRoot    = "/sys/fs/cgroup"
)

// neededControllers are the controllers a container's limits use: cpu
// (quota and shares/weight), memory (limits, OOM), pids.
var neededControllers = []string{"cpu", "memory", "pids"}

// CheckCgroups checks that containers can have cgroups: cgroup v2 mounted
// at /sys/fs/cgroup with the needed controllers, or (v1) a mounted,
// enabled hierarchy for each of them. The error wraps ErrCgroups and says
// what to change.
func CheckCgroups(sys System) error {
	b, err := sys.ReadFile(pathMountInfo)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCgroups, err)
	}
	mounts, err := mountinfo.GetMountsFromReader(bytes.NewReader(b), func(i *mountinfo.Info) (skip, stop bool) {
		return i.FSType != "cgroup" && i.FSType != "cgroup2", false
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCgroups, pathMountInfo, err)
	}
	cmdline, _ := sys.ReadFile(pathCmdline)
	var unified *mountinfo.Info
	v1 := map[string]bool{} // controllers with a v1 hierarchy mounted
	for _, m := range mounts {
		switch {
		case m.FSType == "cgroup2" && m.Mountpoint == cgroupRoot:
			unified = m
		case m.FSType == "cgroup":
			for _, o := range strings.Split(m.VFSOptions, ",") {
				// "cpu,cpuacct" hierarchies list both; "name=systemd" none.
				v1[o] = true
			}
		}
	}
	var missing []string
	switch {
	case unified != nil:
		ctrls, err := sys.ReadFile(cgroupRoot + "/cgroup.controllers")
		if err != nil {
			return fmt.Errorf("%w: cgroup v2: %w", ErrCgroups, err)
		}
		have := strings.Fields(string(ctrls))
		for _, c := range neededControllers {
			if !slices.Contains(have, c) {
				missing = append(missing, c)
			}
		}
	case len(v1) > 0:
		enabled, err := enabledV1(sys)
		if err != nil {
			return fmt.Errorf("%w: cgroup v1: %w", ErrCgroups, err)
		}
		for _, c := range neededControllers {
			if !v1[c] || !enabled[c] {
				missing = append(missing, c)
			}
		}
	default:
		return fmt.Errorf("%w: no cgroup mount found in %s: mount cgroup2 on %s (systemd does at boot; "+
			"under a container manager, give the agent the host's cgroup namespace and %s)",
			ErrCgroups, pathMountInfo, cgroupRoot, cgroupRoot)
	}
	if len(missing) == 0 {
		return nil
	}
	version := 1
	if unified != nil {
		version = 2
	}
	return fmt.Errorf("%w: the %s cgroup controller%s %s not available (cgroup v%d): %s",
		ErrCgroups, strings.Join(missing, ", "), plural(len(missing), "", "s"), plural(len(missing), "is", "are"),
		version, cgroupFix(missing, string(cmdline)))
}

// enabledV1 reads /proc/cgroups: which controllers the kernel has enabled.
func enabledV1(sys System) (map[string]bool, error) {
	b, err := sys.ReadFile(pathCgroups)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && !strings.HasPrefix(f[0], "#") {
			out[f[0]] = f[3] == "1"
		}
	}
	return out, sc.Err()
}

// cgroupFix says what to put on the kernel command line: the kernel
// enables a controller that is off by default (memory on Raspberry Pi OS)
// with cgroup_enable=, and one that cmdline disables must lose its
// cgroup_disable=.
func cgroupFix(missing []string, cmdline string) string {
	var disabled []string
	for _, arg := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(arg, "cgroup_disable="); ok {
			for _, c := range strings.Split(v, ",") {
				if slices.Contains(missing, c) {
					disabled = append(disabled, arg)
				}
			}
		}
	}
	fix := "add"
	for _, c := range missing {
		fix += " cgroup_enable=" + c
		if c == "memory" {
			fix += " cgroup_memory=1"
		}
	}
	fix += " to the kernel command line (/boot/firmware/cmdline.txt on Raspberry Pi OS) and reboot"
	if len(disabled) > 0 {
		fix = "remove " + strings.Join(disabled, " ") + " and " + fix
	}
	return fix + "; a kernel built without the controller needs its CONFIG_ option (CONFIG_MEMCG, CONFIG_CGROUP_PIDS, CONFIG_CGROUP_SCHED)"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
