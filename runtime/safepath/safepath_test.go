package safepath

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// resolvers runs a test with openat2 and with the component walk.
func resolvers(t *testing.T, f func(t *testing.T)) {
	for _, name := range []string{"openat2", "walk"} {
		t.Run(name, func(t *testing.T) {
			saved := noOpenat2.Load()
			noOpenat2.Store(name != "openat2")
			defer noOpenat2.Store(saved)
			f(t)
		})
	}
}

// volume lays out a volume with every shape of link a container can make,
// next to a secret file outside it.
func volume(t *testing.T) (outside, vol string) {
	t.Helper()
	outside = t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	vol = filepath.Join(outside, "vol")
	for _, d := range []string{"vol/a/b", "vol/c"} {
		if err := os.MkdirAll(filepath.Join(outside, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(vol, "a/b/file"), []byte("in"), 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"root":      "/",
		"abs-in":    vol + "/a",  // absolute, even if it names the volume: refused
		"up":        "..",        // the volume's parent
		"up-secret": "../secret", // a file outside
		"deep-up":   "a/b/../../../secret",
		"rel-in":    "a/b",
		"rel-up-in": "c/../a",
		"chain":     "rel-in",
		"loop":      "loop",
		"dangling":  "nowhere",
		"a/b/up2":   "../../..",
		"a/inner":   "../c",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(vol, name)); err != nil {
			t.Fatal(err)
		}
	}
	return outside, vol
}

func TestOpenAtRest(t *testing.T) {
	tests := []struct {
		path  string
		links Links
		want  string // path relative to vol; "" means refused as an escape
		err   error
	}{
		{path: "", want: "."},
		{path: "a/b/file", want: "a/b/file"},
		{path: "rel-in", want: "a/b"},
		{path: "rel-in/file", want: "a/b/file"},
		{path: "chain/file", want: "a/b/file"},
		{path: "rel-up-in", want: "a"},
		{path: "a/inner", want: "c"},
		{path: "a/../c", want: "c"},
		{path: "root", err: ErrEscape},
		{path: "abs-in", err: ErrEscape},
		{path: "up", err: ErrEscape},
		{path: "up-secret", err: ErrEscape},
		{path: "deep-up", err: ErrEscape},
		{path: "a/b/up2", err: ErrEscape},
		{path: "a/b/up2/secret", err: ErrEscape},
		{path: "..", err: ErrEscape},
		{path: "../secret", err: ErrEscape},
		{path: "a/../../secret", err: ErrEscape},
		{path: "loop", err: ErrEscape},
		{path: "dangling", err: os.ErrNotExist},
		{path: "missing/x", err: os.ErrNotExist},
		{path: "a/b/file/x", err: unix.ENOTDIR},
		{path: "rel-in", links: NoLinks, err: ErrEscape},
		{path: "a/b", links: NoLinks, want: "a/b"},
	}
	resolvers(t, func(t *testing.T) {
		_, vol := volume(t)
		root, err := OpenRoot(vol)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		for _, tt := range tests {
			f, err := Open(root, tt.path, tt.links, NoCreate)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Errorf("Open(%q) = %v, want %v", tt.path, err, tt.err)
				}
				if f != nil {
					f.Close()
				}
				continue
			}
			if err != nil {
				t.Errorf("Open(%q): %v", tt.path, err)
				continue
			}
			if !sameFile(t, f, filepath.Join(vol, tt.want)) {
				t.Errorf("Open(%q) is not %s", tt.path, tt.want)
			}
			f.Close()
		}
	})
}

func sameFile(t *testing.T, f *os.File, p string) bool {
	t.Helper()
	var a, b unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &a); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(p, &b); err != nil {
		t.Fatal(err)
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

func TestOpenCreate(t *testing.T) {
	resolvers(t, func(t *testing.T) {
		outside, vol := volume(t)
		root, err := OpenRoot(vol)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		f, err := Open(root, "new/deep/dir", NoLinks, Dirs)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		fi, err := os.Stat(filepath.Join(vol, "new/deep/dir"))
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
			t.Errorf("made dir: %v %v", fi, err)
		}
		// Creation through links that stay inside follows them...
		if f, err = Open(root, "rel-in/made", Beneath, Dirs); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if _, err := os.Stat(filepath.Join(vol, "a/b/made")); err != nil {
			t.Error(err)
		}
		// ...and never makes anything outside.
		for _, p := range []string{"up/escaped", "root/escaped-" + filepath.Base(outside), "../escaped"} {
			if f, err := Open(root, p, Beneath, Dirs); !errors.Is(err, ErrEscape) {
				t.Errorf("Open(%q, Dirs) = %v, want an escape", p, err)
				if f != nil {
					f.Close()
				}
			}
		}
		if _, err := os.Stat(filepath.Join(outside, "escaped")); err == nil {
			t.Error("a directory was made outside the volume")
		}
		if f, err = Open(root, "c/file", NoLinks, File); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if fi, err := os.Stat(filepath.Join(vol, "c/file")); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
			t.Errorf("made file: %v %v", fi, err)
		}
		if _, err := Open(root, "nodir/file", NoLinks, File); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("File in a missing directory = %v", err)
		}
	})
}
