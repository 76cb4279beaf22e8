package netns_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime/netns"
)

// pinDir returns a fresh pin directory and unmounts the self mount New puts
// on it once the test's namespaces are removed (cleanups run last first).
func pinDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func newNS(t *testing.T, dir, name string) *netns.NS {
	t.Helper()
	ns, err := netns.New(dir, name)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	t.Cleanup(func() {
		if err := ns.Remove(); err != nil {
			t.Errorf("Remove(%s): %v", name, err)
		}
	})
	return ns
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Ino
}

// threadNS is the inode of the calling thread's network namespace.
func threadNS() (uint64, error) {
	var st unix.Stat_t
	err := unix.Stat(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), &st)
	return st.Ino, err
}

func nsInside(t *testing.T, ns *netns.NS) uint64 {
	t.Helper()
	var ino uint64
	if err := ns.Do(func() (err error) { ino, err = threadNS(); return err }); err != nil {
		t.Fatalf("Do: %v", err)
	}
	return ino
}

func TestNewDoRemove(t *testing.T) {
	testenv.RequireRoot(t)
	dir := pinDir(t)
	host := inode(t, "/proc/self/ns/net")
	ns := newNS(t, dir, "pod-a")

	if got, want := ns.Path(), filepath.Join(dir, "pod-a"); got != want {
		t.Fatalf("Path = %s, want %s", got, want)
	}
	pinned := inode(t, ns.Path())
	if pinned == host {
		t.Fatal("pinned namespace is the host's")
	}
	// The thread that created the namespace is gone: the pin alone keeps it.
	for i := range 2 {
		if got := nsInside(t, ns); got != pinned {
			t.Fatalf("Do #%d ran in namespace %d, want %d", i, got, pinned)
		}
	}
	var ifaces []net.Interface
	if err := ns.Do(func() (err error) { ifaces, err = net.Interfaces(); return err }); err != nil {
		t.Fatal(err)
	}
	if len(ifaces) != 1 || ifaces[0].Name != "lo" {
		t.Fatalf("fresh namespace has interfaces %v, want only lo", ifaces)
	}

	if err := ns.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(ns.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pin file after Remove: %v", err)
	}
	if err := ns.Remove(); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if err := ns.Do(func() error { return nil }); !errors.Is(err, netns.ErrNotFound) {
		t.Fatalf("Do after Remove = %v, want ErrNotFound", err)
	}
}

func TestOpen(t *testing.T) {
	testenv.RequireRoot(t)
	dir := pinDir(t)
	ns := newNS(t, dir, "adopt")
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		path    string
		wantErr error
	}{
		{"pinned", ns.Path(), nil},
		{"missing", filepath.Join(dir, "missing"), netns.ErrNotFound},
		{"plain file", plain, netns.ErrNotFound},
		{"mount namespace", "/proc/self/ns/mnt", netns.ErrNotFound},
		{"empty", "", netns.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := netns.Open(tt.path)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open(%q) = %v, want %v", tt.path, err, tt.wantErr)
			}
			if err == nil && nsInside(t, got) != inode(t, ns.Path()) {
				t.Fatal("opened namespace is not the pinned one")
			}
		})
	}
}

func TestNewNames(t *testing.T) {
	testenv.RequireRoot(t)
	dir := pinDir(t)
	newNS(t, dir, "taken")
	// A pin file whose mount is gone, as a crash leaves it, is reused.
	if err := os.WriteFile(filepath.Join(dir, "leftover"), nil, 0o444); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		wantErr error
	}{
		{"taken", netns.ErrExists},
		{"leftover", nil},
		{strings.Repeat("p", 64), nil},
		{"", netns.ErrInvalid},
		{".", netns.ErrInvalid},
		{"..", netns.ErrInvalid},
		{"a/b", netns.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, err := netns.New(dir, tt.name)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New(%q) = %v, want %v", tt.name, err, tt.wantErr)
			}
			if err == nil {
				if err := ns.Remove(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestDoLeavesNoThreadBehind runs many Do calls and then checks every thread
// the scheduler hands out is back in the host namespace.
func TestDoLeavesNoThreadBehind(t *testing.T) {
	testenv.RequireRoot(t)
	ns := newNS(t, pinDir(t), "threads")
	host := inode(t, "/proc/self/ns/net")
	errFn := errors.New("from fn")

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if err := ns.Do(func() error { return errFn }); !errors.Is(err, errFn) {
				t.Errorf("Do = %v, want fn's error", err)
			}
		})
	}
	wg.Wait()

	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if got, err := threadNS(); err != nil || got != host {
				t.Errorf("thread in namespace %d (%v), want host %d", got, err, host)
			}
		})
	}
	wg.Wait()
}

// TestDirIsSharedMount checks the pin directory became a shared mount point.
func TestDirIsSharedMount(t *testing.T) {
	testenv.RequireRoot(t)
	dir := pinDir(t)
	newNS(t, dir, "x")
	newNS(t, dir, "y") // a second New must not stack a second self mount
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var self []string
	for line := range strings.Lines(string(info)) {
		if f := strings.Fields(line); len(f) > 6 && f[4] == dir {
			self = append(self, line)
		}
	}
	if len(self) != 1 || !strings.Contains(self[0], " shared:") {
		t.Fatalf("mounts on %s:\n%s\nwant exactly one, shared", dir, strings.Join(self, ""))
	}
}

func TestRemoveInUseKeepsNamespaceForUser(t *testing.T) {
	testenv.RequireRoot(t)
	ns := newNS(t, pinDir(t), "busy")
	// A socket opened inside holds a reference of its own: Remove unpins
	// without disturbing it.
	var fd int
	if err := ns.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := ns.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{}); err != nil && !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("socket in unpinned namespace: %v", err)
	}
}
