package nodestatus

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// UsageSource measures what one pod uses. Eviction ranks pods with it.
type UsageSource interface {
	// PodUsage measures the pod with the given uid and container names. A
	// pod or container that has no cgroup (not started, already gone) uses
	// nothing: that is not an error.
	PodUsage(ctx context.Context, uid string, containers []string) (PodUsage, error)
}

// PodUsage is one pod's use of the node.
type PodUsage struct {
	// Memory is the pod cgroup's working set in bytes.
	Memory int64
	// Disk is the bytes allocated under the pod's directory (emptyDirs,
	// logs) and in its containers' writable layers.
	Disk int64
	// PIDs is the number of tasks in the pod cgroup.
	PIDs       int64
	Containers []ContainerUsage
}

// ContainerUsage is one container's working set in bytes.
type ContainerUsage struct {
	Name   string
	Memory int64
}

// CgroupUsage reads usage from the cgroups the runtime creates: the pod's
// cgroup is /outpost/pod<uid> and each container's /outpost/pod<uid>/<name>,
// under Root (cgroup v2) or under Root's memory and pids hierarchies (v1).
//
// Memory is the working set, usage minus inactive file pages, as kubelet
// ranks by: page cache the kernel can drop is not held against a pod.
// Usage is cgroup v2 memory.current or v1 memory.usage_in_bytes.
type CgroupUsage struct {
	// Root is the cgroup mount, default /sys/fs/cgroup.
	Root string
	// PodsDir is <data dir>/pods, where a pod's emptyDirs and logs are;
	// empty skips them.
	PodsDir string
	// Layers, when set, adds what the pod's containers wrote to their
	// writable layers (containerd's snapshots) to its disk use.
	Layers LayerUsage
}

// LayerUsage measures the containers' writable layers of one pod; the
// runtime implements it.
type LayerUsage interface {
	WritableLayerBytes(ctx context.Context, uid string) (int64, error)
}

var _ UsageSource = CgroupUsage{}

func (u CgroupUsage) root() string {
	if u.Root == "" {
		return "/sys/fs/cgroup"
	}
	return u.Root
}

func (u CgroupUsage) PodUsage(ctx context.Context, uid string, containers []string) (PodUsage, error) {
	if uid == "" || strings.ContainsAny(uid, "/\x00") || uid == "." || uid == ".." {
		return PodUsage{}, fmt.Errorf("pod uid %q: %w", uid, fs.ErrInvalid)
	}
	pod := filepath.Join("outpost", "pod"+uid)
	var out PodUsage
	var err error
	if out.Memory, err = u.workingSet(pod); err != nil {
		return PodUsage{}, err
	}
	if out.PIDs, err = u.pids(pod); err != nil {
		return PodUsage{}, err
	}
	for _, name := range containers {
		if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
			continue
		}
		m, err := u.workingSet(filepath.Join(pod, name))
		if err != nil {
			return PodUsage{}, err
		}
		out.Containers = append(out.Containers, ContainerUsage{Name: name, Memory: m})
	}
	if u.PodsDir != "" {
		if out.Disk, err = diskUsage(ctx, filepath.Join(u.PodsDir, uid)); err != nil {
			return PodUsage{}, err
		}
	}
	if u.Layers != nil {
		layers, err := u.Layers.WritableLayerBytes(ctx, uid)
		if err != nil {
			return PodUsage{}, fmt.Errorf("pod %s: %w", uid, err)
		}
		out.Disk += layers
	}
	return out, nil
}

// workingSet reads the cgroup at rel, v2 first then v1; neither is 0.
func (u CgroupUsage) workingSet(rel string) (int64, error) {
	layouts := []struct{ dir, usage, inactive string }{
		{filepath.Join(u.root(), rel), "memory.current", "inactive_file"},
		{filepath.Join(u.root(), "memory", rel), "memory.usage_in_bytes", "total_inactive_file"},
	}
	for _, l := range layouts {
		usage, err := readCgroupInt(filepath.Join(l.dir, l.usage))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		inactive, err := cgroupStat(filepath.Join(l.dir, "memory.stat"), l.inactive)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, err
		}
		return max(0, usage-inactive), nil
	}
	return 0, nil
}

func (u CgroupUsage) pids(rel string) (int64, error) {
	for _, p := range []string{
		filepath.Join(u.root(), rel, "pids.current"),
		filepath.Join(u.root(), "pids", rel, "pids.current"),
	} {
		n, err := readCgroupInt(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return n, err
	}
	return 0, nil
}

func readCgroupInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read cgroup: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %v", path, errFormat, err)
	}
	return n, nil
}

// cgroupStat reads one key of a flat-keyed file (memory.stat); a missing
// key is 0.
func cgroupStat(path, key string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read cgroup: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s %s: %w: %v", path, key, errFormat, err)
			}
			return n, nil
		}
	}
	return 0, nil
}

// diskUsage sums the blocks allocated to files under dir, like du; a
// missing dir is 0 and files vanishing during the walk are skipped.
func diskUsage(ctx context.Context, dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil // vanished
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += int64(st.Blocks) * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("disk usage of %s: %w", dir, err)
	}
	return total, nil
}
