package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultCheckTimeout bounds the check of the state file at Open. The file
// is small (events and the outbox are bounded): a check takes milliseconds,
// well under a second on a slow SD card.
const DefaultCheckTimeout = time.Minute

// verifyFile decides whether the state file at path can be trusted before it
// is opened for writing: a read-only open, a size check, a walk over every
// bucket, key and value, and bbolt's own tx.Check, within timeout. It returns
// nil for a sound file or no file, an error wrapping ErrCorrupt (and
// ErrInvalid) for a damaged one, ErrLocked when another process holds it,
// and any other error (permissions, I/O) as it is.
//
// bbolt reads its file through a memory map and trusts it: a damaged page
// makes it panic (invalid freelist page, page expected to be a leaf, pgid
// above high water mark) or read past the map. Every read here runs under
// protect, which turns both into errors; the size check comes first so that
// no page of the map lies beyond the end of the file.
func verifyFile(path string, timeout, lockTimeout time.Duration) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("store: %w", err)
	case fi.Size() == 0:
		// bbolt would silently start a new file in it; an empty state file
		// is a half-written one, and what it held is lost: say so.
		return corrupt(path, errors.New("the file is empty (0 bytes)"))
	}

	var db *bolt.DB
	err = protect(func() error {
		var err error
		// PreLoadFreelist reads the freelist here, under protect, not in
		// the goroutine tx.Check starts.
		db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: lockTimeout, PreLoadFreelist: true})
		return err
	})
	var pathErr *fs.PathError
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("store: %w: another outpost agent holds %s (waited %s); stop it first or use another data directory",
			ErrLocked, path, lockTimeout)
	case errors.As(err, &pathErr):
		return fmt.Errorf("store: open %s: %w", path, err)
	case err != nil:
		return corrupt(path, err)
	}
	done := make(chan error, 1)
	go func() {
		done <- protect(func() error { return db.View(func(tx *bolt.Tx) error { return checkTx(tx, fi.Size()) }) })
	}()
	select {
	case err = <-done:
		if cerr := db.Close(); err == nil && cerr != nil {
			return fmt.Errorf("store: close %s after check: %w", path, cerr)
		}
	case <-time.After(timeout):
		// The check goes on reading the old file in the background and holds
		// its read lock: the file is moved aside, the new one is another inode.
		err = fmt.Errorf("the check did not finish within %s", timeout)
	}
	if err != nil {
		return corrupt(path, err)
	}
	return nil
}

// checkTx runs in the read transaction of verifyFile.
func checkTx(tx *bolt.Tx, fileSize int64) error {
	if tx.Size() > fileSize {
		return fmt.Errorf("the file is truncated: %d bytes, its pages need %d", fileSize, tx.Size())
	}
	if err := walk(tx.Cursor(), 0); err != nil {
		return err
	}
	var errs []error
	for err := range tx.Check() {
		if len(errs) < 5 { // the first few say enough; drain the rest
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// maxDepth bounds the walk: the tree is four levels deep (doc.go); a
// corrupt page that points back at its parent must not recurse forever.
const maxDepth = 16

// walk reads every key and value under c, recursing into buckets, so that
// every page is touched once in this goroutine, where protect catches what
// a damaged page does.
func walk(c *bolt.Cursor, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("buckets nested deeper than %d", maxDepth)
	}
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			if len(v) > 0 {
				_, _ = v[0], v[len(v)-1] // a value lies in one piece of the map
			}
			continue
		}
		b := c.Bucket().Bucket(k)
		if b == nil {
			return fmt.Errorf("key %q has no value and is no bucket", k)
		}
		if err := walk(b.Cursor(), depth+1); err != nil {
			return fmt.Errorf("bucket %q: %w", k, err)
		}
	}
	return nil
}

// protect runs fn and turns a panic, or a fault on the memory map, into an
// error wrapping ErrCorrupt.
func protect(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: bbolt panicked: %v", ErrCorrupt, r)
		}
	}()
	return fn()
}

func corrupt(path string, cause error) error {
	if errors.Is(cause, ErrCorrupt) {
		return fmt.Errorf("store: %s: %w: %w", path, ErrInvalid, cause)
	}
	return fmt.Errorf("store: %s: %w: %w: %w", path, ErrInvalid, ErrCorrupt, cause)
}
