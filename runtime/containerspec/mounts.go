package containerspec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/outpost-edge/outpost/api"
)

// Mounts returns the mounts of container c: its cgroup, the pod's
// /etc/hosts and /etc/resolv.conf, then its volume mounts. A source a pod
// can influence (a hostPath, a subPath) is not mounted by path: it is given
// as a Bind, to be opened safely and bound on its private mount point before
// the container's task is created, and the container mounts that point. A
// hostPath must lie under one of policy.HostPathPrefixes once symlinks are
// resolved: that is checked here too, so a refusal comes before anything
// is created.
func Mounts(pod Pod, c *api.Container, policy Policy) ([]specs.Mount, []Bind, error) {
	// The container's own cgroup, read-only, as Kubernetes gives it: what
	// runtimes (Go, the JVM, Node) read to size themselves to their limits.
	mounts := []specs.Mount{{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
		Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}}}
	if !pod.Spec.Spec.HostNetwork {
		if pod.HostsPath != "" {
			mounts = append(mounts, bind(pod.HostsPath, "/etc/hosts", false))
		}
		if pod.ResolvConfPath != "" {
			mounts = append(mounts, bind(pod.ResolvConfPath, "/etc/resolv.conf", false))
		}
	}
	vols := map[string]*api.Volume{}
	for i := range pod.Spec.Spec.Volumes {
		vols[pod.Spec.Spec.Volumes[i].Name] = &pod.Spec.Spec.Volumes[i]
	}
	var binds []Bind
	for i, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			return nil, nil, fmt.Errorf("container %q: volumeMount %q: no such volume", c.Name, m.Name)
		}
		b := Bind{container: c.Name, volume: v.Name, subPath: m.SubPath, policy: policy}
		switch {
		case v.HostPath != nil:
			if _, err := HostPath(v.HostPath.Path, policy); err != nil {
				return nil, nil, fmt.Errorf("container %q: volume %q: %w", c.Name, v.Name, err)
			}
			b.hostPath = v.HostPath
		case v.EmptyDir != nil && pod.VolumeDir != nil:
			b.emptyDir = pod.VolumeDir(v.Name)
			if m.SubPath == "" {
				// The agent's own directory, which no container can
				// replace: mounted by path.
				mounts = append(mounts, bind(b.emptyDir, m.MountPath, m.ReadOnly))
				continue
			}
		default:
			return nil, nil, fmt.Errorf("container %q: volume %q has no source", c.Name, v.Name)
		}
		if pod.BindDir == "" {
			return nil, nil, fmt.Errorf("container %q: volumeMount %q: no directory for its mount point", c.Name, m.Name)
		}
		b.Target = filepath.Join(pod.BindDir, strconv.Itoa(i))
		binds = append(binds, b)
		mounts = append(mounts, bind(b.Target, m.MountPath, m.ReadOnly))
	}
	return mounts, binds, nil
}

func bind(src, dst string, readOnly bool) specs.Mount {
	mode := "rw"
	if readOnly {
		mode = "ro"
	}
	return specs.Mount{Type: "bind", Source: src, Destination: dst, Options: []string{"rbind", "rprivate", mode}}
}

// HostPath checks a hostPath against the policy and returns it with symlinks
// resolved (so a link under an allowed prefix cannot point outside it). A
// path that does not exist yet (DirectoryOrCreate, FileOrCreate) is
// resolved as far as it exists: a missing directory below a link is where
// the link leads.
func HostPath(p string, policy Policy) (string, error) {
	if len(policy.HostPathPrefixes) == 0 {
		return "", fmt.Errorf("hostPath %s: %w: hostPath volumes are off (set runtime.hostPathPrefixes)", p, ErrForbidden)
	}
	clean := filepath.Clean(p)
	resolved, err := resolveExisting(clean)
	if err != nil {
		return "", fmt.Errorf("hostPath %s: %w", p, err)
	}
	if !allowedHostPath(clean, policy.HostPathPrefixes) || !allowedHostPath(resolved, policy.HostPathPrefixes) {
		return "", fmt.Errorf("hostPath %s: %w: not under an allowed prefix (%s)", p, ErrForbidden, strings.Join(policy.HostPathPrefixes, ", "))
	}
	return resolved, nil
}

// resolveExisting resolves the symlinks of the longest existing prefix of
// the clean absolute path p and appends the rest (which may also be below a
// file: the type check, or the mount, then fails). A symlink whose target
// does not exist is refused: where it leads cannot be checked.
func resolveExisting(p string) (string, error) {
	var rest []string
	for at := p; ; {
		resolved, err := filepath.EvalSymlinks(at)
		if err == nil {
			return filepath.Join(append([]string{resolved}, rest...)...), nil
		}
		if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return "", err
		}
		if _, err := os.Lstat(at); err == nil {
			return "", fmt.Errorf("%w: %s is a symbolic link to a path that does not exist", ErrForbidden, at)
		}
		parent := filepath.Dir(at)
		if parent == at {
			return p, nil
		}
		rest = append([]string{filepath.Base(at)}, rest...)
		at = parent
	}
}

// withGID sets the primary group after the user was resolved from the image.
func withGID(gid uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.User.GID = gid
		return nil
	}
}
