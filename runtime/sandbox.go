package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/netns"
	"github.com/outpost-edge/outpost/runtime/podfiles"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// freshSetup is implemented by networks that can skip checking a cached
// attachment when the pod's namespace was just created.
type freshSetup interface {
	SetupFresh(ctx context.Context, podID, netnsPath string) (NetworkResult, error)
}

// NetworkResult is what pod networking reports for one pod.
type NetworkResult struct {
	IP        netip.Addr
	Gateway   netip.Addr
	Interface string
}

// podDir is <data>/pods/<uid>.
func (r *Runtime) podDir(uid string) podfiles.Dir {
	return podfiles.Dir(filepath.Join(r.cfg.DataDir, "pods", uid))
}

func (r *Runtime) netnsDir() string { return filepath.Join(r.cfg.StateDir, "netns") }

// EnsureSandbox creates (or finds again, after a restart) a pod's
// directory, volumes, network namespace and address. It is idempotent.
func (r *Runtime) EnsureSandbox(ctx context.Context, pod *api.Pod, ref runtimeapi.PodRef) (*runtimeapi.Sandbox, error) {
	if ref.UID == "" {
		return nil, fmt.Errorf("%w: pod %s has no uid", ErrInvalid, ref.Name)
	}
	dir := r.podDir(ref.UID)
	sb := &runtimeapi.Sandbox{UID: ref.UID, Dir: string(dir), HostsPath: dir.Hosts(), ResolvConfPath: dir.ResolvConf()}
	if err := os.MkdirAll(dir.Logs(), 0o750); err != nil {
		return nil, err
	}
	if err := r.ensureVolumes(pod, dir); err != nil {
		return nil, err
	}
	if pod.Spec.HostNetwork {
		return sb, nil
	}
	if r.cfg.Network == nil {
		return nil, fmt.Errorf("%w: pod %s needs pod networking, which is not configured (use hostNetwork)", ErrInvalid, ref.Name)
	}
	ns, err := netns.Open(filepath.Join(r.netnsDir(), ref.UID))
	fresh := false
	if err != nil {
		ns, err = netns.New(r.netnsDir(), ref.UID)
		if err != nil {
			return nil, fmt.Errorf("pod %s: network namespace: %w", ref.Name, err)
		}
		fresh = true
	}
	sb.NetNSPath = ns.Path()
	// The bind mounts of hosts and resolv.conf need their files when a
	// container is created; hosts gets the pod's IP later, in place (a
	// rename would leave running containers with the old inode).
	if err := podfiles.WriteFile(sb.HostsPath, podfiles.HostsFile(pod.Metadata.Name, netip.Addr{})); err != nil {
		return nil, err
	}
	host, _ := os.ReadFile("/etc/resolv.conf")
	upstream, _ := os.ReadFile("/run/systemd/resolve/resolv.conf")
	conf, n := podfiles.ResolvConf(host, upstream)
	if n == 0 {
		r.log.Warn().Str("pod", ref.Name).Msg("the node has no nameserver a pod can reach; the pod gets none")
	}
	if err := podfiles.WriteFile(sb.ResolvConfPath, conf); err != nil {
		return nil, err
	}
	// The network is set up while the first containers are created (CNI
	// takes tens of milliseconds); StartContainer waits for it before it
	// starts a task.
	done := sb.NetworkPending()
	go func() {
		setup := r.cfg.Network.Setup
		if f, ok := r.cfg.Network.(freshSetup); ok && fresh {
			setup = f.SetupFresh
		}
		res, err := setup(context.WithoutCancel(ctx), ref.UID, sb.NetNSPath)
		if err != nil {
			done(netip.Addr{}, fmt.Errorf("pod %s: network: %w", ref.Name, err))
			return
		}
		if err := os.WriteFile(sb.HostsPath, podfiles.HostsFile(pod.Metadata.Name, res.IP), 0o644); err != nil {
			done(res.IP, fmt.Errorf("pod %s: hosts file: %w", ref.Name, err))
			return
		}
		done(res.IP, nil)
	}()
	return sb, nil
}

// ensureVolumes makes the emptyDir directories; a Memory medium gets a tmpfs
// (sized by sizeLimit) mounted once, shared by the pod's containers.
func (r *Runtime) ensureVolumes(pod *api.Pod, dir podfiles.Dir) error {
	for _, v := range pod.Spec.Volumes {
		if v.EmptyDir == nil {
			continue
		}
		p := dir.Volume(v.Name)
		if err := os.MkdirAll(p, 0o777); err != nil {
			return err
		}
		if v.EmptyDir.Medium != "Memory" || isMountPoint(p) {
			continue
		}
		data := "mode=0777"
		if l := v.EmptyDir.SizeLimit; l != nil && l.Sign() > 0 {
			data += fmt.Sprintf(",size=%d", l.Value())
		}
		if err := unix.Mount("tmpfs", p, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
			return fmt.Errorf("volume %s: mount tmpfs: %w", v.Name, err)
		}
	}
	return nil
}

// isMountPoint reports whether p is on another device than its parent.
func isMountPoint(p string) bool {
	var st, parent unix.Stat_t
	if unix.Stat(p, &st) != nil || unix.Stat(filepath.Dir(p), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// RemovePod removes what EnsureSandbox made: the network (IP released),
// the network namespace, tmpfs volumes, the pod's cgroup directories and,
// unless keepLogs, the pod's directory with its logs. The pod's containers
// must be removed first. Removing a pod that is already gone is not an
// error. Nothing mounted below the pod's directory is deleted through: every
// mount there (a tmpfs emptyDir, a bind a container's creation left) is
// detached first, and the directory is left alone if one cannot be.
func (r *Runtime) RemovePod(ctx context.Context, uid string, keepLogs bool) error {
	var errs []error
	nsPath := filepath.Join(r.netnsDir(), uid)
	if r.cfg.Network != nil {
		if err := r.cfg.Network.Teardown(ctx, uid, nsPath); err != nil {
			errs = append(errs, fmt.Errorf("network teardown: %w", err))
		}
	}
	if ns, err := netns.Open(nsPath); err == nil {
		if err := ns.Remove(); err != nil {
			errs = append(errs, err)
		}
	} else if !errors.Is(err, netns.ErrNotFound) {
		errs = append(errs, err)
	} else if err := os.Remove(nsPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		// A pin file whose mount is gone (a crash inside New or Remove).
		errs = append(errs, err)
	}
	dir := r.podDir(uid)
	if err := unmountBelow(string(dir)); err != nil {
		errs = append(errs, err)
	}
	// A cgroup still busy (a process outlived its container) is reported
	// but does not keep the pod's files.
	r.removeShimSocket(ctx, uid)
	cgErr := r.removePodCgroups(uid)
	if len(errs) == 0 {
		var err error
		if keepLogs {
			err = removeAllBut(string(dir), "logs")
		} else {
			err = os.RemoveAll(string(dir))
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(append(errs, cgErr)...)
}

// unmountBelow detaches every mount at or below dir, deepest first, so that
// removing dir cannot reach into a mounted file system (a hostPath's bind
// would take the host's files with it).
func unmountBelow(dir string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return fmt.Errorf("read mounts below %s: %w", dir, err)
	}
	slices.SortFunc(mounts, func(a, b *mountinfo.Info) int { return len(b.Mountpoint) - len(a.Mountpoint) })
	var errs []error
	for _, m := range mounts {
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m.Mountpoint, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// A mount that would not come off, or came meanwhile, keeps the
	// directory from being removed.
	left, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return fmt.Errorf("read mounts below %s: %w", dir, err)
	}
	if len(left) > 0 {
		return fmt.Errorf("%s still has %d mounts below it, first %s", dir, len(left), left[0].Mountpoint)
	}
	return nil
}

func removeAllBut(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != keep {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// PruneLogs removes the directories of removed pods (kept for their logs by
// RemovePod(keepLogs)) whose logs were last written more than retention
// ago. It returns how many it removed. A directory is a removed pod's only
// when it holds nothing but logs and containerd has no container of that
// pod: a hostNetwork pod has no hosts file, and a pod whose containers
// are quiet writes no logs, yet both are alive with their volumes.
func (r *Runtime) PruneLogs(ctx context.Context, retention time.Duration) (int, error) {
	root := filepath.Join(r.cfg.DataDir, "pods")
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	conts, err := r.client.Containers(r.ctx(ctx), fmt.Sprintf("labels.%q", LabelPodUID))
	if err != nil {
		return 0, fmt.Errorf("list containers: %w", err)
	}
	live := map[string]bool{}
	for _, c := range conts {
		if labels, err := c.Labels(r.ctx(ctx)); err == nil {
			live[labels[LabelPodUID]] = true
		} else if !errdefs.IsNotFound(err) {
			return 0, fmt.Errorf("labels of %s: %w", c.ID(), err)
		}
	}
	removed := 0
	cutoff := time.Now().Add(-retention)
	for _, e := range entries {
		dir := podfiles.Dir(filepath.Join(root, e.Name()))
		if live[e.Name()] || !onlyLogs(string(dir)) || newest(dir.Logs()).After(cutoff) {
			continue
		}
		if err := os.RemoveAll(string(dir)); err != nil {
			return removed, err
		}
		removed++
	}
	return removed, nil
}

// onlyLogs reports whether dir holds its logs directory and nothing else,
// as RemovePod(keepLogs) leaves it.
func onlyLogs(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.Name() != filepath.Base(podfiles.Dir(dir).Logs()) {
			return false
		}
	}
	return true
}

// newest is the latest modification time of a file under dir.
func newest(dir string) time.Time {
	var t time.Time
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil {
			if info, err := d.Info(); err == nil && info.ModTime().After(t) {
				t = info.ModTime()
			}
		}
		return nil
	})
	return t
}
