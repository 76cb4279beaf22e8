package netns

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// dirMu serializes prepareDir so two first calls do not stack two self
// mounts on the same directory.
var dirMu sync.Mutex

// prepareDir makes dir a mount point of its own with shared propagation, as
// `ip netns add` does for /run/netns: a pin made or removed here then
// propagates to the copies of dir in other mount namespaces (a mount
// namespace created while a pin exists copies it), so removing a pin frees
// the namespace everywhere instead of leaving it alive behind a forgotten
// copy. A bind mount of an nsfs file needs none of this to succeed; it is
// about not leaking namespaces. A directory that already is a mount point
// (after an agent restart, or mounted by the operator) is only marked shared.
func prepareDir(dir string) error {
	dirMu.Lock()
	defer dirMu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("netns: create %s: %w", dir, err)
	}
	err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) { // EINVAL: not a mount point yet
		return fmt.Errorf("netns: make %s shared: %w", dir, err)
	}
	if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("netns: bind mount %s on itself: %w", dir, err)
	}
	if err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("netns: make %s shared: %w", dir, err)
	}
	return nil
}
