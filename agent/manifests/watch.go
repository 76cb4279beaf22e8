package manifests

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// debounce collects a burst of file events (an editor's save, a copy of
// many files) into one sync.
const debounce = 200 * time.Millisecond

// Run syncs now, then on every change of the directory and every Rescan,
// until ctx is done. The directory is created when missing.
func (w *Watcher) Run(ctx context.Context) error {
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return err
	}
	changes := w.watch(ctx)
	if err := w.Sync(ctx); err != nil {
		w.log.Error().Err(err).Msg("syncing static manifests")
	}
	tick := time.NewTicker(w.Rescan)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-changes:
			time.Sleep(debounce)
			drain(changes)
		}
		if err := w.Sync(ctx); err != nil {
			w.log.Error().Err(err).Msg("syncing static manifests")
		}
	}
}

func drain(c <-chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// watch reports changes in the directory through inotify. Without inotify
// (no instances left) it returns a nil channel and the periodic rescan
// does the work.
func (w *Watcher) watch(ctx context.Context) <-chan struct{} {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		w.log.Warn().Err(err).Msg("inotify unavailable: manifests are rescanned periodically only")
		return nil
	}
	const mask = unix.IN_CREATE | unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_ATTRIB
	if _, err := unix.InotifyAddWatch(fd, w.dir, mask); err != nil {
		unix.Close(fd)
		w.log.Warn().Err(err).Msg("inotify watch failed: manifests are rescanned periodically only")
		return nil
	}
	f := os.NewFile(uintptr(fd), "inotify")
	out := make(chan struct{}, 1)
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}()
	return out
}
