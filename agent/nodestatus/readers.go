package nodestatus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Paths the collector reads through System.
const (
	pathMemInfo       = "/proc/meminfo"
	pathLoadAvg       = "/proc/loadavg"
	pathPIDMax        = "/proc/sys/kernel/pid_max"
	pathThreadsMax    = "/proc/sys/kernel/threads-max"
	pathBootID        = "/proc/sys/kernel/random/boot_id"
	pathMachineID     = "/etc/machine-id"
	pathOSRelease     = "/etc/os-release"
	pathOSReleaseLib  = "/usr/lib/os-release"
	pathCPUOnline     = "/sys/devices/system/cpu/online"
	pathCgroup2       = "/sys/fs/cgroup/cgroup.controllers"
	pathRoute4        = "/proc/net/route"
	pathRoute6        = "/proc/net/ipv6_route"
	defaultOSImageTxt = "Linux"
)

// errFormat is wrapped when a kernel file does not read as expected.
var errFormat = errors.New("unexpected format")

// memInfo is the part of /proc/meminfo the node uses, in bytes.
type memInfo struct {
	Total     int64
	Available int64
}

func readMemInfo(sys System) (memInfo, error) {
	b, err := sys.ReadFile(pathMemInfo)
	if err != nil {
		return memInfo{}, fmt.Errorf("read meminfo: %w", err)
	}
	var m memInfo
	var haveTotal, haveAvail bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "MemTotal" && key != "MemAvailable") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return memInfo{}, fmt.Errorf("meminfo %s: %w", key, errFormat)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return memInfo{}, fmt.Errorf("meminfo %s: %w: %v", key, errFormat, err)
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		if key == "MemTotal" {
			m.Total, haveTotal = n, true
		} else {
			m.Available, haveAvail = n, true
		}
	}
	if !haveTotal || !haveAvail {
		// MemAvailable exists since Linux 3.14; older kernels are not supported.
		return memInfo{}, fmt.Errorf("meminfo: MemTotal or MemAvailable missing: %w", errFormat)
	}
	return m, nil
}

// pidInfo is how many pids the kernel can hand out and how many are in use.
type pidInfo struct {
	Max     int64
	Running int64
}

// readPIDs takes the limit as min(pid_max, threads-max), since either runs
// out first (threads-max is small on a 1 GB board), and the use from the
// denominator of /proc/loadavg's fourth field: every thread holds a pid.
func readPIDs(sys System) (pidInfo, error) {
	limit, err := readInt(sys, pathPIDMax)
	if err != nil {
		return pidInfo{}, err
	}
	if tm, err := readInt(sys, pathThreadsMax); err == nil && tm > 0 && tm < limit {
		limit = tm
	}
	b, err := sys.ReadFile(pathLoadAvg)
	if err != nil {
		return pidInfo{}, fmt.Errorf("read loadavg: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 4 {
		return pidInfo{}, fmt.Errorf("loadavg %q: %w", b, errFormat)
	}
	_, total, ok := strings.Cut(f[3], "/")
	if !ok {
		return pidInfo{}, fmt.Errorf("loadavg %q: %w", b, errFormat)
	}
	n, err := strconv.ParseInt(total, 10, 64)
	if err != nil {
		return pidInfo{}, fmt.Errorf("loadavg %q: %w: %v", b, errFormat, err)
	}
	return pidInfo{Max: limit, Running: n}, nil
}

func readInt(sys System, path string) (int64, error) {
	b, err := sys.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %v", path, errFormat, err)
	}
	return n, nil
}

func readTrimmed(sys System, path string) string {
	b, err := sys.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// onlineCPUs counts /sys/devices/system/cpu/online ("0-3", "0,2-3"), which
// unlike the scheduler affinity is the machine's, not the agent's.
func onlineCPUs(sys System) int {
	b, err := sys.ReadFile(pathCPUOnline)
	if err != nil {
		return sys.NumCPU()
	}
	n := 0
	for _, part := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		z := a
		var err2 error
		if isRange {
			z, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || z < a {
			return sys.NumCPU()
		}
		n += z - a + 1
	}
	if n == 0 {
		return sys.NumCPU()
	}
	return n
}

// osImage is PRETTY_NAME from os-release, falling back to NAME, then "Linux".
func osImage(sys System) string {
	b, err := sys.ReadFile(pathOSRelease)
	if err != nil {
		if b, err = sys.ReadFile(pathOSReleaseLib); err != nil {
			return defaultOSImageTxt
		}
	}
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `"'`)
		}
		vals[k] = v
	}
	for _, k := range []string{"PRETTY_NAME", "NAME"} {
		if vals[k] != "" {
			return vals[k]
		}
	}
	return defaultOSImageTxt
}

func cgroupVersion(sys System) int {
	if sys.Exists(pathCgroup2) {
		return 2
	}
	return 1
}
