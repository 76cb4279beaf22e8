package containerspec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/api"
)

// ErrHostPathType is wrapped when a hostPath volume is not of its type
// (Directory, File, Socket, ...) and cannot be made so (DirectoryOrCreate,
// FileOrCreate).
var ErrHostPathType = errors.New("hostPath type check failed")

// hostPathSource returns the host path to bind for a hostPath volume: the
// path checked against the policy (symlinks resolved), then created if its
// type says so (DirectoryOrCreate 0755 with its parents, FileOrCreate 0644
// in an existing directory), then checked against its type, as kubelet does
// at mount time. Type "" checks nothing. Creation never follows a symlink,
// so a link placed under an allowed prefix cannot redirect it outside.
func hostPathSource(v *api.HostPathVolumeSource, policy Policy) (string, error) {
	p, err := HostPath(v.Path, policy)
	if err != nil || v.Type == "" {
		return p, err
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("hostPath %s (type %s): %w: %s", v.Path, v.Type, ErrHostPathType, fmt.Sprintf(format, args...))
	}
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) && (v.Type == "DirectoryOrCreate" || v.Type == "FileOrCreate") {
		if err := create(p, v.Type == "FileOrCreate"); err != nil {
			return "", fail("creating it: %v", err)
		}
		// Checked again now it exists: what was created is what is mounted.
		if p, err = HostPath(v.Path, policy); err != nil {
			return "", err
		}
		fi, err = os.Lstat(p)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "", fail("it does not exist")
	}
	if err != nil {
		return "", fail("%v", err)
	}
	want := map[string]fs.FileMode{
		"DirectoryOrCreate": fs.ModeDir, "Directory": fs.ModeDir,
		"FileOrCreate": 0, "File": 0,
		"Socket": fs.ModeSocket, "CharDevice": fs.ModeDevice | fs.ModeCharDevice, "BlockDevice": fs.ModeDevice,
	}[v.Type]
	if got := fi.Mode().Type(); got != want {
		return "", fail("it is %s, not %s", kind(got), kind(want))
	}
	return p, nil
}

// kind names a file type.
func kind(t fs.FileMode) string {
	switch t {
	case 0:
		return "a regular file"
	case fs.ModeDir:
		return "a directory"
	case fs.ModeSocket:
		return "a socket"
	case fs.ModeDevice | fs.ModeCharDevice:
		return "a character device"
	case fs.ModeDevice:
		return "a block device"
	case fs.ModeNamedPipe:
		return "a named pipe"
	case fs.ModeSymlink:
		return "a symbolic link"
	}
	return "of type " + t.String()
}

// create makes the directory p, with its missing parents, or the empty file
// p in an existing directory. p is absolute and clean; it is walked from /
// one component at a time without following symlinks, so none placed
// since p was resolved can lead the creation elsewhere.
func create(p string, file bool) error {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	dirs := parts
	if file {
		dirs = parts[:len(parts)-1]
	}
	const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Open("/", dirFlags, 0)
	if err != nil {
		return err
	}
	defer func() { unix.Close(fd) }()
	at := "/"
	for _, name := range dirs {
		next, err := unix.Openat(fd, name, dirFlags, 0)
		if errors.Is(err, unix.ENOENT) && !file {
			if err = unix.Mkdirat(fd, name, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				next, err = unix.Openat(fd, name, dirFlags, 0)
				if err == nil {
					err = unix.Fchmod(next, 0o755) // whatever the umask
				}
			}
		}
		at = filepath.Join(at, name)
		switch {
		case errors.Is(err, unix.ENOENT) && file:
			return fmt.Errorf("directory %s does not exist", at)
		case errors.Is(err, unix.ELOOP):
			return fmt.Errorf("%s is a symbolic link", at)
		case err != nil:
			return &fs.PathError{Op: "open", Path: at, Err: err}
		}
		unix.Close(fd)
		fd = next
	}
	if !file {
		return nil
	}
	f, err := unix.Openat(fd, parts[len(parts)-1], unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if errors.Is(err, unix.EEXIST) {
		return nil // created meanwhile: its type is checked next
	}
	if err != nil {
		return &fs.PathError{Op: "create", Path: p, Err: err}
	}
	defer unix.Close(f)
	return unix.Fchmod(f, 0o644)
}
