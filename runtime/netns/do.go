package netns

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread that has entered the namespace and returns
// fn's error. It runs fn on a goroutine of its own, locked to its thread,
// so the caller's own thread and lock state are left alone; afterwards the
// thread goes back to its original namespace, or, if that fails, is
// discarded rather than returned to the scheduler in the wrong namespace.
//
// Only fn's own goroutine is in the namespace: goroutines fn starts run on
// other threads, in the agent's namespace. Sockets and processes created by
// fn stay in the namespace (a child process inherits the thread's).
func (n *NS) Do(fn func() error) error {
	target, err := unix.Open(n.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("netns: %w: %s does not exist", ErrNotFound, n.path)
	}
	if err != nil {
		return fmt.Errorf("netns: open %s: %w", n.path, err)
	}
	defer unix.Close(target)
	if err := checkNetNSFd(target, n.path); err != nil {
		return err
	}

	return onThread(func() (bool, error) {
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			return true, fmt.Errorf("netns: enter %s: %w", n.path, err)
		}
		return false, nil
	}, fn, "netns: leave "+n.path)
}

// onThread runs enter and then fn on a goroutine of its own, locked to its
// thread, and moves the thread back to the network namespace it started in.
// When enter fails, the thread is released only if enter says it is intact
// (a failed setns changes nothing; a failed unshare may have half happened).
// When the way back fails, the thread stays locked, so the runtime ends (or,
// for the main thread, parks) it instead of reusing it in the wrong
// namespace; that error, prefixed with leave, joins fn's.
func onThread(enter func() (intact bool, err error), fn func() error, leave string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open(threadNetNSPath(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: open current namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		if intact, err := enter(); err != nil {
			if intact {
				runtime.UnlockOSThread()
			}
			errc <- err
			return
		}
		fnErr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(fnErr, fmt.Errorf("%s: %w", leave, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}
