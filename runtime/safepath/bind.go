package safepath

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Bind mounts the file f (opened by Open) onto target, a path in a
// directory no container can write, made here as a directory or an empty
// file to match f. The mount is recursive (submounts of a host directory
// come along) and private. What is mounted is checked to be f.
func Bind(f *os.File, target string) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("bind %s: %w", f.Name(), err)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	var err error
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = os.Mkdir(target, 0o700)
	} else {
		var fd int
		fd, err = unix.Open(target, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		return fmt.Errorf("bind %s: mount point: %w", f.Name(), err)
	}
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		os.Remove(target)
		return fmt.Errorf("bind %s on %s: %w", f.Name(), target, err)
	}
	// Not propagated to other mount namespaces (containers made meanwhile).
	if err := unix.Mount("", target, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		unmount(target)
		return fmt.Errorf("bind %s on %s: make private: %w", f.Name(), target, err)
	}
	var got unix.Stat_t
	if err := unix.Stat(target, &got); err != nil || got.Dev != st.Dev || got.Ino != st.Ino {
		unmount(target)
		return fmt.Errorf("bind %s on %s: the mount is not the opened file", f.Name(), target)
	}
	return nil
}

// Unbind unmounts every mount point in dir and removes dir with all it
// holds. A mount point is unmounted before anything below it is looked at,
// and nothing is removed recursively, so a bind of a host directory left
// by a killed agent never has its content deleted: what cannot be
// unmounted stays, with the error. A missing dir is not an error.
func Unbind(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if err := unmount(p); err != nil {
			errs = append(errs, err)
			continue
		}
		fi, err := os.Lstat(p)
		if err == nil && fi.IsDir() {
			if err := Unbind(p); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// unmount detaches whatever is mounted on p, however many times; a p that
// is no mount point is left as it is.
func unmount(p string) error {
	for range 16 {
		err := unix.Unmount(p, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		default:
			return fmt.Errorf("unmount %s: %w", p, err)
		}
	}
	return fmt.Errorf("unmount %s: still mounted", p)
}
