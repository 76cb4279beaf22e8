// Package safepath opens the paths a pod can influence (a subPath inside a
// volume, a hostPath) so that no symbolic link, not even one swapped in
// while the path is being opened, leads outside the trusted root; and it
// binds the opened file onto a private mount point, which is what the
// container is given. Checking a path and then handing the path to a mount
// made later is the race of CVE-2017-1002101 and CVE-2021-25741; kubelet's
// fix (volume-subpaths) is the model.
//
// Paths are resolved with openat2(2) and RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS (Linux 5.6); on older kernels, and whenever
// directories are created, by a walk of one component at a time with
// O_PATH | O_NOFOLLOW from a held directory descriptor, links resolved in
// user space with the same rules. Binding goes through /proc/self/fd/N, so
// what is mounted is the file that was opened. The oldest kernel supported
// is 4.14 (O_PATH descriptors, bind mounts of /proc/self/fd links).
package safepath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrEscape is wrapped when a path, through ".." or a symbolic link, leads
// outside its root, or meets a link where none is allowed.
var ErrEscape = errors.New("path leads outside its root")

// Links says what a symbolic link met on the way does.
type Links int

const (
	// Beneath follows a link as long as it stays beneath the root; an
	// absolute link, or ".." past the root, is refused.
	Beneath Links = iota
	// NoLinks refuses every link: for a path whose links were already
	// resolved and checked, where a link now means it was swapped.
	NoLinks
)

// Create says what Open makes when the path does not exist.
type Create int

const (
	// NoCreate makes nothing.
	NoCreate Create = iota
	// Dirs makes the missing directories, mode 0755 (as mkdir -p).
	Dirs
	// File makes the last component an empty file, mode 0644; its
	// directory must exist.
	File
)

// maxLinks is the number of links one Open follows, as the kernel's 40.
const maxLinks = 40

// noOpenat2 is set when the kernel lacks openat2 (before 5.6), and by
// tests to exercise the walk. Pod workers open paths concurrently.
var noOpenat2 atomic.Bool

// OpenRoot opens dir, which must be a directory and not a link, as the
// root of later Opens.
func OpenRoot(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// Open opens p, relative to root, as an O_PATH file. p is never resolved
// outside root, whatever is swapped in while it is walked. The returned
// file is named root's name joined with p.
func Open(root *os.File, p string, links Links, create Create) (*os.File, error) {
	name := filepath.Join(root.Name(), p)
	if create == NoCreate && !noOpenat2.Load() {
		fd, err := openat2(int(root.Fd()), p, links)
		if !errors.Is(err, unix.ENOSYS) {
			if err != nil {
				return nil, pathError(name, err)
			}
			return os.NewFile(uintptr(fd), name), nil
		}
		noOpenat2.Store(true)
	}
	fd, err := walk(int(root.Fd()), p, links, create)
	if err != nil {
		return nil, pathError(name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

func pathError(name string, err error) error {
	if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ELOOP) {
		err = fmt.Errorf("%w (%v)", ErrEscape, err)
	}
	return &fs.PathError{Op: "open", Path: name, Err: err}
}

func openat2(dirfd int, p string, links Links) (int, error) {
	if p == "" {
		p = "."
	}
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS}
	if links == NoLinks {
		how.Resolve |= unix.RESOLVE_NO_SYMLINKS
	}
	for try := 0; ; try++ {
		fd, err := unix.Openat2(dirfd, p, &how)
		// EAGAIN: a rename raced the resolution of "..": the kernel asks
		// for a retry rather than risk a wrong answer.
		if errors.Is(err, unix.EAGAIN) && try < 16 {
			continue
		}
		return fd, err
	}
}

// walk resolves p below dirfd one component at a time. It holds a
// descriptor for every directory on the way, so ".." is the previous one
// and never the kernel's idea of the parent, and each component is opened
// with O_NOFOLLOW: a link swapped in is read, not followed.
func walk(dirfd int, p string, links Links, create Create) (int, error) {
	root, err := unix.Dup(dirfd)
	if err != nil {
		return -1, err
	}
	stack := []int{root}
	defer func() {
		for _, fd := range stack {
			unix.Close(fd)
		}
	}()
	parts := split(p)
	followed := 0
	for len(parts) > 0 {
		name := parts[0]
		parts = parts[1:]
		top := stack[len(stack)-1]
		switch name {
		case ".":
			continue
		case "..":
			if len(stack) == 1 {
				return -1, unix.EXDEV
			}
			unix.Close(top)
			stack = stack[:len(stack)-1]
			continue
		}
		last := len(parts) == 0
		fd, err := unix.Openat(top, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && (create == Dirs || create == File && last) {
			fd, err = createAt(top, name, create == File && last)
		}
		if err != nil {
			return -1, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			target, err := readlink(fd)
			unix.Close(fd)
			switch {
			case err != nil:
				return -1, err
			case links == NoLinks:
				return -1, unix.ELOOP
			case strings.HasPrefix(target, "/"):
				return -1, unix.EXDEV
			case followed >= maxLinks:
				return -1, unix.ELOOP
			}
			followed++
			parts = append(split(target), parts...)
			continue
		}
		if !last && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			unix.Close(fd)
			return -1, unix.ENOTDIR
		}
		stack = append(stack, fd)
	}
	top := stack[len(stack)-1]
	stack = stack[:len(stack)-1]
	return top, nil
}

func split(p string) []string {
	var parts []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return parts
}

// readlink reads the link opened (O_PATH | O_NOFOLLOW) as fd.
func readlink(fd int) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// createAt creates name in the directory dirfd, a directory (0755) or an empty
// file (0644) whatever the umask, and opens it O_PATH. The mode is set
// through a descriptor opened without following links, so a link swapped
// in after the creation cannot redirect it.
func createAt(dirfd int, name string, file bool) (int, error) {
	var fd int
	var err error
	if file {
		fd, err = unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err == nil {
			err = unix.Fchmod(fd, 0o644)
			unix.Close(fd)
		}
	} else {
		err = unix.Mkdirat(dirfd, name, 0o755)
		if err == nil {
			fd, err = unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err == nil {
				err = unix.Fchmod(fd, 0o755)
				unix.Close(fd)
			}
		}
	}
	if err != nil && !errors.Is(err, unix.EEXIST) { // EEXIST: made meanwhile; opened as found
		return -1, err
	}
	return unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}
