package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/outpost-edge/outpost/runtime/podfiles"
)

// pruneAttemptLogs removes the log files of a container's attempts older
// than keepFrom from dir (logs/<container>): <attempt>.log, its rotated
// <attempt>.log.N and a rotation's leftover <attempt>.log.tmp. Like
// kubelet, only the current attempt and the one before it (what
// `logs --previous` shows) are kept; without this a crash-looping container
// would fill the disk one attempt at a time. A missing dir is not an error.
func pruneAttemptLogs(dir string, keepFrom int) error {
	if keepFrom <= 0 {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list attempt logs: %w", err)
	}
	var errs []error
	for _, e := range ents {
		attempt, ok := podfiles.LogAttempt(e.Name())
		if !ok || attempt >= keepFrom {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove old attempt log: %w", err))
		}
	}
	return errors.Join(errs...)
}
