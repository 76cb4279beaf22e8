package safepath

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/internal/testenv"
)

func TestBindAndUnbind(t *testing.T) {
	testenv.RequireRoot(t)
	_, vol := volume(t)
	private := filepath.Join(t.TempDir(), "subpaths")
	root, err := OpenRoot(vol)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for i, p := range []string{"a", "a/b/file"} {
		f, err := Open(root, p, Beneath, NoCreate)
		if err != nil {
			t.Fatal(err)
		}
		err = Bind(f, filepath.Join(private, "c1", []string{"0", "1"}[i]))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(private, "c1/0/b/file")); err != nil || string(b) != "in" {
		t.Errorf("through the directory bind: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(private, "c1/1")); err != nil || string(b) != "in" {
		t.Errorf("through the file bind: %q, %v", b, err)
	}
	if err := Unbind(private); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(private); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("private dir left: %v", err)
	}
	// Unbinding never removes what was bound.
	if b, err := os.ReadFile(filepath.Join(vol, "a/b/file")); err != nil || string(b) != "in" {
		t.Errorf("the volume lost its file: %q, %v", b, err)
	}
}

// TestBindRace swaps an entry of the volume between a directory and a link
// to the directory outside while it is opened and bound, as a container
// sharing the volume can: no bind may ever show the outside.
func TestBindRace(t *testing.T) {
	testenv.RequireRoot(t)
	resolvers(t, func(t *testing.T) {
		outside, vol := volume(t)
		private := filepath.Join(t.TempDir(), "subpaths")
		root, err := OpenRoot(vol)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		// The entry is always there, a directory one moment and a link
		// to the outside the next (an atomic exchange of two names).
		entry, other := filepath.Join(vol, "x"), filepath.Join(vol, "x.other")
		if err := os.Mkdir(entry, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, other); err != nil {
			t.Fatal(err)
		}
		var stop atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			for !stop.Load() {
				if err := unix.Renameat2(unix.AT_FDCWD, entry, unix.AT_FDCWD, other, unix.RENAME_EXCHANGE); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		const attempts = 3000
		var bound, escapes int
		for i := range attempts {
			f, err := Open(root, "x", Beneath, NoCreate)
			if err != nil {
				continue // refused or absent at that moment: fine
			}
			target := filepath.Join(private, "c", "0")
			err = Bind(f, target)
			f.Close()
			if err != nil {
				t.Fatalf("attempt %d: %v", i, err)
			}
			bound++
			if _, err := os.Stat(filepath.Join(target, "secret")); err == nil {
				escapes++
			}
			if err := Unbind(private); err != nil {
				t.Fatal(err)
			}
		}
		stop.Store(true)
		<-done
		t.Logf("%d attempts, %d bound, %d escapes", attempts, bound, escapes)
		if escapes != 0 {
			t.Fatalf("%d of %d binds showed the directory outside the volume", escapes, bound)
		}
		if bound == 0 {
			t.Fatal("no attempt found the entry as a directory: the race was not exercised")
		}
	})
}
