// Package atomicfile replaces a file so that a reader, a crash or a power cut
// sees either the old content or the new, never a mix or an empty file; and
// moves a damaged file aside durably (the state file, the node's key).
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Write replaces path with data durably, with mode perm: a hidden temporary
// file in the same directory (".<name>.tmp-*", which directory watchers
// skip), synced, renamed over path, then the directory synced so that the
// rename itself survives a power cut.
func Write(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600: it never holds a secret under a
	// wider mode, even for a moment.
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the creations, renames and removals in dir durable.
func SyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// MoveAside renames a damaged file to <path>.corrupt-<UTC time of now>, kept
// for a post-mortem, and makes the rename durable. It returns the new name.
func MoveAside(path string, now time.Time) (string, error) {
	aside := path + ".corrupt-" + now.UTC().Format("20060102T150405.000Z")
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	return aside, SyncDir(filepath.Dir(path))
}
