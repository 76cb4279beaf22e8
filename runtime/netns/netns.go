// Package netns creates, pins, enters and removes Linux network namespaces.
//
// A pod is one network namespace shared by its containers, with no pause
// process holding it: the namespace is pinned by bind-mounting its nsfs
// file onto a regular file (default /run/outpost/netns/<name>), so it lives
// exactly as long as that mount. The path is what runc and the CNI plugins
// are handed, and what a restarted agent opens again to adopt the pod.
//
// The package owns the pin files under the directory it is given and the
// mount of that directory on itself (see prepareDir). It needs no cgo.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultDir is where New pins namespaces when given no directory.
const DefaultDir = "/run/outpost/netns"

var (
	// ErrNotFound: the path does not exist or is not a pinned network namespace.
	ErrNotFound = errors.New("network namespace not found")
	// ErrExists: New found a namespace already pinned under that name.
	ErrExists = errors.New("network namespace already exists")
	// ErrInvalid: an unusable name or path.
	ErrInvalid = errors.New("invalid network namespace name")
)

// NS is a pinned network namespace, known by its path. It holds no file
// descriptor, so an NS costs nothing while idle and stays valid across a
// restart of the agent (Open the same path again).
type NS struct {
	path string
}

// New creates a network namespace and pins it at dir/name (dir "" means
// DefaultDir). A file left at that path without a namespace mounted on it,
// as a crash between creating the file and mounting leaves it, is reused.
func New(dir, name string) (*NS, error) {
	if dir == "" {
		dir = DefaultDir
	}
	if err := validName(name); err != nil {
		return nil, err
	}
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name)
	switch err := checkNetNS(path); {
	case err == nil:
		return nil, fmt.Errorf("netns: %w: %s", ErrExists, path)
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}

	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o444)
	if err != nil {
		return nil, fmt.Errorf("netns: create mount point %s: %w", path, err)
	}
	_ = f.Close()

	if err := pinNew(path); err != nil {
		_ = os.Remove(path)
		return nil, err
	}
	return &NS{path: path}, nil
}

// pinNew creates the namespace on a locked thread, bind-mounts the
// thread's namespace onto path and moves the thread back. Restoring matters
// even though the thread could simply be discarded: the goroutine may run
// on the main thread, which the Go runtime cannot terminate, and the main
// thread's namespace is what /proc/self/ns/net and /proc/net show for the
// whole process. Only if the way back fails does the thread stay locked, so
// the runtime ends (or, for the main thread, parks) it instead of reusing it.
func pinNew(path string) error {
	return onThread(func() (bool, error) {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return false, fmt.Errorf("netns: unshare: %w", err)
		}
		return false, nil
	}, func() error {
		src := threadNetNSPath()
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("netns: bind mount %s on %s: %w", src, path, err)
		}
		return nil
	}, "netns: return to original namespace")
}

// Open returns the namespace pinned at path, for adoption after a restart.
// It fails with ErrNotFound when path is missing or holds no network
// namespace (for example a pin file whose mount is gone).
func Open(path string) (*NS, error) {
	if path == "" {
		return nil, fmt.Errorf("netns: %w: empty path", ErrInvalid)
	}
	if err := checkNetNS(path); err != nil {
		return nil, err
	}
	return &NS{path: path}, nil
}

// Path is the pin file, as handed to runc and the CNI plugins.
func (n *NS) Path() string { return n.path }

// Remove unpins the namespace and deletes the pin file. The namespace dies
// with its last user: a process still inside keeps it alive. Removing an
// already removed namespace is not an error.
func (n *NS) Remove() error {
	// Two racing pins of one path could stack mounts; unmount until none is
	// left (EINVAL: not a mount point, ENOENT: no file).
	for range 8 {
		err := unix.Unmount(n.path, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break
		}
		if err != nil {
			return fmt.Errorf("netns: unmount %s: %w", n.path, err)
		}
	}
	if err := os.Remove(n.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("netns: remove %s: %w", n.path, err)
	}
	return nil
}

// checkNetNS returns nil when path holds a network namespace, ErrNotFound
// when it does not exist or holds something else.
func checkNetNS(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("netns: %w: %s does not exist", ErrNotFound, path)
	}
	if err != nil {
		return fmt.Errorf("netns: open %s: %w", path, err)
	}
	defer unix.Close(fd)
	return checkNetNSFd(fd, path)
}

func checkNetNSFd(fd int, path string) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return fmt.Errorf("netns: statfs %s: %w", path, err)
	}
	if st.Type != unix.NSFS_MAGIC {
		return fmt.Errorf("netns: %w: %s is not a pinned namespace", ErrNotFound, path)
	}
	typ, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		return fmt.Errorf("netns: namespace type of %s: %w", path, err)
	}
	if typ != unix.CLONE_NEWNET {
		return fmt.Errorf("netns: %w: %s is a namespace of another kind", ErrNotFound, path)
	}
	return nil
}

func validName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || len(name) > 255 {
		return fmt.Errorf("netns: %w: %q", ErrInvalid, name)
	}
	return nil
}

// threadNetNSPath names the calling thread's namespace; /proc/self would
// name the thread group leader's, which is not the thread we unshared.
func threadNetNSPath() string {
	return fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
}
