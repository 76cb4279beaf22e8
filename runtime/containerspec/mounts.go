package containerspec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/outpost-edge/outpost/api"
)

// Mounts returns the bind mounts of container c: the pod's /etc/hosts and
// /etc/resolv.conf, then its volume mounts. A hostPath volume must lie under
// one of policy.HostPathPrefixes once symlinks are resolved.
func Mounts(pod Pod, c *api.Container, policy Policy) ([]specs.Mount, error) {
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
	for _, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("container %q: volumeMount %q: no such volume", c.Name, m.Name)
		}
		var src string
		switch {
		case v.HostPath != nil:
			p, err := hostPathSource(v.HostPath, policy)
			if err != nil {
				return nil, fmt.Errorf("container %q: volume %q: %w", c.Name, v.Name, err)
			}
			src = p
		case v.EmptyDir != nil && pod.VolumeDir != nil:
			src = pod.VolumeDir(v.Name)
		default:
			return nil, fmt.Errorf("container %q: volume %q has no source", c.Name, v.Name)
		}
		if m.SubPath != "" {
			sub, err := subPath(src, m.SubPath, v.EmptyDir != nil)
			if err != nil {
				return nil, fmt.Errorf("container %q: volumeMount %q: %w", c.Name, m.Name, err)
			}
			src = sub
		}
		mounts = append(mounts, bind(src, m.MountPath, m.ReadOnly))
	}
	return mounts, nil
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

// subPath resolves sub inside the volume root and refuses an escape through
// "..", or through a symlink placed in the volume by a container. Inside an
// emptyDir the directory is created, as Kubernetes does.
func subPath(root, sub string, create bool) (string, error) {
	p := filepath.Join(root, sub)
	if create {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return "", err
		}
	}
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	rootResolved, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	if resolved != rootResolved && !strings.HasPrefix(resolved, rootResolved+"/") {
		return "", fmt.Errorf("subPath %q: %w: it leaves the volume", sub, ErrForbidden)
	}
	return resolved, nil
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
