package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"

	"github.com/outpost-edge/outpost/runtime/ctrd"
	"github.com/outpost-edge/outpost/runtime/images"
	"github.com/outpost-edge/outpost/runtime/podfiles"
)

// An agent killed at any line leaves what it was making. containerd cleans
// up most of it when it starts again, but not all:
//
//   - a shim started for a task whose bootstrap.json containerd never wrote
//     (killed while the shim started): containerd cannot load the bundle
//     ("failed to read bootstrap.json"), runs `shim delete` and removes the
//     bundle, but the shim process itself keeps running, listening on its
//     socket, forever;
//   - the snapshot of a container prepared and never recorded;
//   - the sandbox (pinned netns, its veth, the IP, tmpfs volumes, cgroup
//     directories) of a pod that no container and no desired pod names any
//     longer: the agent finds pods by their containers.
//
// reap clears the first two when the runtime starts, before any container
// is created; Sandboxes lets the agent find the third.

// reap removes orphaned shims and snapshots. It runs once, in New, after
// containerd has loaded the shims it can.
func (r *Runtime) reap(ctx context.Context) {
	if r.server != nil { // an external containerd's shims and bundles are its own
		r.removeHalfDeletedBundles()
		if n, err := r.reapShims(); err != nil {
			r.log.Warn().Err(err).Msg("reaping orphaned shims")
		} else if n > 0 {
			r.log.Info().Int("shims", n).Msg("killed shims no task of containerd's used (left by a killed agent)")
		}
	}
	if n, err := r.reapSnapshots(ctx); err != nil {
		r.log.Warn().Err(err).Msg("reaping orphaned snapshots")
	} else if n > 0 {
		r.log.Info().Int("snapshots", n).Msg("removed container snapshots no container used (left by a killed agent)")
	}
}

// bundlesDir is where containerd's task bundles of our namespace are.
func (r *Runtime) bundlesDir() string {
	return filepath.Join(r.cfg.StateDir, "io.containerd.runtime.v2.task", ctrd.Namespace)
}

// reapShims kills the shims of our containerd (their command line names its
// socket) whose socket no task bundle names: containerd lost them, no task
// of theirs is known, and nothing would ever stop them. Their socket files
// go with them, and the sockets no shim listens on. It must run before
// any task is created: a shim being started has no bundle naming it yet.
func (r *Runtime) reapShims() (int, error) {
	live, err := r.shimSocketsInUse()
	if err != nil {
		return 0, err
	}
	sockDir := filepath.Join(r.cfg.StateDir, "s")
	address := filepath.Join(r.cfg.StateDir, "containerd.sock")
	procs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, err
	}
	killed := 0
	var errs []error
	for _, p := range procs {
		pid, _ := strconv.Atoi(filepath.Base(p))
		if pid == os.Getpid() || !isShimOf(p, address) {
			continue
		}
		socks := listeningSockets(pid, sockDir)
		if len(socks) == 0 || slices.ContainsFunc(socks, func(s string) bool { return live[s] }) {
			continue // not serving yet, or a shim containerd uses
		}
		// Its tasks were deleted by containerd's cleanup of the bundle; a
		// process it still reaps would be left to init, so it goes too.
		for _, child := range childrenOf(pid) {
			syscall.Kill(child, syscall.SIGKILL)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill shim %d: %w", pid, err))
			continue
		}
		r.log.Info().Int("pid", pid).Strs("sockets", socks).Msg("killed an orphaned shim")
		for _, s := range socks {
			os.Remove(s) // it may still accept for a moment while it dies
		}
		killed++
	}
	// Sockets of shims that are gone (killed above, or died): containerd
	// would replace one when its group starts again, but a group that never
	// does would keep it forever.
	entries, _ := os.ReadDir(sockDir)
	for _, e := range entries {
		p := filepath.Join(sockDir, e.Name())
		if !live[strings.TrimSuffix(p, ".debug")] && !listened(p) {
			os.Remove(p)
		}
	}
	return killed, errors.Join(errs...)
}

// removeHalfDeletedBundles removes the bundles containerd was deleting when
// the agent was killed: it renames a bundle to ".<id>" and then removes it,
// and skips hidden names when it loads bundles, so nothing else would.
func (r *Runtime) removeHalfDeletedBundles() {
	entries, _ := os.ReadDir(r.bundlesDir())
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(r.bundlesDir(), e.Name())
		if err := unmountBelow(p); err != nil {
			r.log.Warn().Err(err).Str("bundle", p).Msg("unmounting a half-deleted bundle")
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			r.log.Warn().Err(err).Str("bundle", p).Msg("removing a half-deleted bundle")
		}
	}
}

// shimSocketsInUse are the shim sockets the task bundles containerd kept
// name in their bootstrap.json (address "unix:///<state>/s/<hash>").
func (r *Runtime) shimSocketsInUse() (map[string]bool, error) {
	entries, err := os.ReadDir(r.bundlesDir())
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(r.bundlesDir(), e.Name(), "bootstrap.json"))
		if err != nil {
			continue
		}
		var boot struct {
			Address string `json:"address"`
		}
		if json.Unmarshal(b, &boot) == nil {
			live[strings.TrimPrefix(boot.Address, "unix://")] = true
		}
	}
	return live, nil
}

// isShimOf reports whether the process at proc is a shim daemon of the
// containerd at address: `<shim> -namespace outpost -id <id> -address
// <address>`, not a passing `start` or `delete` invocation.
func isShimOf(proc, address string) bool {
	b, err := os.ReadFile(filepath.Join(proc, "cmdline"))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	i := slices.Index(args, "-address")
	if i < 0 || i+1 >= len(args) || args[i+1] != address {
		return false
	}
	last := args[len(args)-1]
	return last != "start" && last != "delete"
}

// listeningSockets are the unix sockets below dir that pid has open, as
// its network namespace's /proc/<pid>/net/unix names them.
func listeningSockets(pid int, dir string) []string {
	inodes := socketInodes(pid)
	if len(inodes) == 0 {
		return nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/unix", pid))
	if err != nil {
		return nil
	}
	defer f.Close()
	var paths []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Num RefCount Protocol Flags Type St Inode Path
		fields := strings.Fields(sc.Text())
		if len(fields) == 8 && inodes[fields[6]] && strings.HasPrefix(fields[7], dir+"/") {
			paths = append(paths, fields[7])
		}
	}
	return paths
}

// socketInodes are the inodes of the sockets pid has open.
func socketInodes(pid int) map[string]bool {
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return nil
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	return inodes
}

// listened reports whether a process accepts connections on the unix
// socket at path.
func listened(path string) bool {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return true // cannot tell: keep it
	}
	defer syscall.Close(fd)
	return syscall.Connect(fd, &syscall.SockaddrUnix{Name: path}) == nil
}

// childrenOf lists pid's children (/proc/<pid>/task/*/children).
func childrenOf(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var kids []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if k, err := strconv.Atoi(s); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids
}

// ourContainerID matches the IDs containerID makes (<uid[:12]>-<name>-<n>).
var ourContainerID = regexp.MustCompile(`^[0-9a-zA-Z_.-]{1,12}-[a-z0-9.-]+-[0-9]+$`)

// reapSnapshots removes the active snapshots named like our containers
// that no container has: an agent killed between preparing a container's
// snapshot and recording the container leaves it, and if that attempt
// never runs again (the pod was deleted, or restarts under a new attempt
// number) nothing else would free its disk.
func (r *Runtime) reapSnapshots(ctx context.Context) (int, error) {
	ctx = r.ctx(ctx)
	sn := r.client.SnapshotService(images.DefaultSnapshotter)
	var candidates, orphans []string
	err := sn.Walk(ctx, func(ctx context.Context, info snapshots.Info) error {
		if info.Kind == snapshots.KindActive && ourContainerID.MatchString(info.Name) {
			candidates = append(candidates, info.Name)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("walk snapshots: %w", err)
	}
	for _, key := range candidates {
		_, err := r.client.ContainerService().Get(ctx, key)
		if errdefs.IsNotFound(err) {
			orphans = append(orphans, key)
		} else if err != nil {
			return 0, fmt.Errorf("container of snapshot %s: %w", key, err)
		}
	}
	var errs []error
	for _, key := range orphans {
		if err := sn.Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove snapshot %s: %w", key, err))
		}
	}
	return len(orphans) - len(errs), errors.Join(errs...)
}

// attachedLister is implemented by networks that can list the pods
// holding an address.
type attachedLister interface {
	Attached() ([]string, error)
}

// Sandboxes returns the uids of the pods that have a sandbox on the node,
// with or without containers: a pinned network namespace, an address, a
// pod directory with more than logs, or cgroup directories. The agent
// removes those of pods it neither wants nor runs (RemovePod): a pod
// deleted while the agent was being killed, or, in a drain, a pod whose
// container never started.
func (r *Runtime) Sandboxes(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	pins, err := os.ReadDir(r.netnsDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range pins {
		seen[e.Name()] = true
	}
	if l, ok := r.cfg.Network.(attachedLister); ok {
		ids, err := l.Attached()
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			seen[id] = true
		}
	}
	dirs, err := os.ReadDir(filepath.Join(r.cfg.DataDir, "pods"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range dirs {
		uid := e.Name()
		if !e.IsDir() {
			continue
		}
		if !onlyLogs(string(podfiles.Dir(filepath.Join(r.cfg.DataDir, "pods", uid)))) || len(r.podCgroupDirs(uid)) > 0 {
			seen[uid] = true
		}
	}
	uids := make([]string, 0, len(seen))
	for uid := range seen {
		uids = append(uids, uid)
	}
	slices.Sort(uids)
	return uids, nil
}
