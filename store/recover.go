package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/internal/atomicfile"
)

// Recovery says that Open found the state file corrupt, moved it aside and
// started an empty one (Options.MoveCorrupt).
type Recovery struct {
	// Aside is where the corrupt file now is: <path>.corrupt-<UTC time>.
	Aside string
	// Cause says what was wrong with it.
	Cause error
	// Found is when Open found it.
	Found time.Time
}

// Recovered is the recovery Open made, or nil when the file was sound.
func (s *Store) Recovered() *Recovery { return s.recovery }

// Corrupted is closed when bbolt panicked on the open file; every method
// fails with ErrCorrupt from then on. The agent should exit: the next Open
// moves the file aside (markerSuffix remembers why, in case the file passes
// the check).
func (s *Store) Corrupted() <-chan struct{} { return s.corrupted }

// markerSuffix names the file that records a panic caught at run time, next
// to the state file; Open treats the state file as corrupt while it exists.
const markerSuffix = ".corrupt-found"

// markCorrupt stops every further use of the file and leaves the marker
// for the next Open. Called once per store, on the first caught panic.
func (s *Store) markCorrupt(cause error) {
	s.corruptOnce.Do(func() {
		s.corruptErr.Store(&cause)
		s.log.Error().Err(cause).Str("path", s.path).Msg("state file is corrupt: the next start moves it aside")
		if err := atomicfile.Write(s.path+markerSuffix, []byte(cause.Error()+"\n"), 0o600); err != nil {
			s.log.Error().Err(err).Msg("recording the corrupt state file")
		}
		close(s.corrupted)
	})
}

// failed returns the error every method returns once the file was found
// corrupt at run time, or nil.
func (s *Store) failed() error {
	if p := s.corruptErr.Load(); p != nil {
		return fmt.Errorf("store: %s: %w", s.path, *p)
	}
	return nil
}

// leaveMarker leaves the marker when err says bbolt panicked on a file that
// passed the check, so that the next Open moves it aside instead of
// failing the same way again. It returns err.
func leaveMarker(path string, err error) error {
	if errors.Is(err, ErrCorrupt) {
		_ = atomicfile.Write(path+markerSuffix, []byte(err.Error()+"\n"), 0o600)
	}
	return err
}

// markedCorrupt reads the marker a previous process left, if any.
func markedCorrupt(path string) error {
	b, err := os.ReadFile(path + markerSuffix)
	if err != nil {
		return nil
	}
	return corrupt(path, fmt.Errorf("%w: found at run time: %s", ErrCorrupt, strings.TrimSpace(string(b))))
}

// moveAside renames the corrupt file at path to path.corrupt-<time>, removes
// the marker, and makes both durable, so that the next open starts empty
// and the damaged file stays for a post-mortem.
func moveAside(path string, cause error, now time.Time) (*Recovery, error) {
	aside, err := atomicfile.MoveAside(path, now)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: moving the corrupt state file aside: %w (it was: %w)", err, cause)
	}
	if err := os.Remove(path + markerSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return &Recovery{Aside: aside, Cause: cause, Found: now}, nil
}
