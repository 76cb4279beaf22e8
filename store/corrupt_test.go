package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
)

// bbolt page header: id u64, flags u16, count u16, overflow u32.
const (
	pageSize     = 4096
	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagMeta     = 0x04
	flagFreelist = 0x10
)

// corruptions damage a closed state file the way a lost or torn write does.
// Each would make bbolt panic at some read or write, or (the empty file)
// silently start over.
var corruptions = []struct {
	name   string
	damage func(t *testing.T, path string)
}{
	{"empty file", func(t *testing.T, path string) { truncate(t, path, 0) }},
	{"truncated to half", func(t *testing.T, path string) { truncate(t, path, fileSize(t, path)/2) }},
	{"truncated to the meta pages", func(t *testing.T, path string) { truncate(t, path, 2*pageSize) }},
	{"freelist pages with leaf flags", func(t *testing.T, path string) {
		rewritePages(t, path, flagFreelist, func(p []byte) { binary.LittleEndian.PutUint16(p[8:], flagLeaf) })
	}},
	{"leaf pages with unknown flags", func(t *testing.T, path string) {
		rewritePages(t, path, flagLeaf, func(p []byte) { binary.LittleEndian.PutUint16(p[8:], 0x40) })
	}},
	{"branch elements above the high water mark", func(t *testing.T, path string) {
		rewritePages(t, path, flagBranch, func(p []byte) {
			// branchPageElement: pos u32, ksize u32, pgid u64, from offset 16.
			binary.LittleEndian.PutUint64(p[16+8:], 1<<40)
		})
	}},
	{"leaf element offsets past the page", func(t *testing.T, path string) {
		rewritePages(t, path, flagLeaf, func(p []byte) {
			// leafPageElement: flags u32, pos u32, ksize u32, vsize u32.
			binary.LittleEndian.PutUint32(p[16+4:], 1<<30)
		})
	}},
	{"both meta pages flipped", func(t *testing.T, path string) {
		rewritePages(t, path, flagMeta, func(p []byte) { p[64] ^= 0xff })
	}},
	{"schema version unreadable", func(t *testing.T, path string) { setSchema(t, path, []byte("x")) }},
	{"random bytes", func(t *testing.T, path string) {
		b := []byte(strings.Repeat("\x5a\xa5 not a page", 2*pageSize))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}},
}

// filledStore leaves a closed state file big enough to have branch pages.
func filledStore(t *testing.T) string {
	t.Helper()
	path := statePath(t)
	s := openT(t, path, Options{})
	var names []string
	for i := range 120 {
		names = append(names, fmt.Sprintf("pod-%03d", i))
	}
	mustApply(t, s, SourceNode, testDoc(1, names...))
	mustApply(t, s, SourceNode, testDoc(2, names[:60]...)) // frees pages
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOpenCorrupt: every damage is refused at Open with an error (never a
// panic, never a silent new file), and with MoveCorrupt the file is moved
// aside and the store starts empty and works.
func TestOpenCorrupt(t *testing.T) {
	for _, c := range corruptions {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			path := filledStore(t)
			c.damage(t, path)
			damaged, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{})
			if err == nil {
				// The old code got here: show that using it goes wrong.
				_, derr := s.Desired(ctx)
				_, aerr := s.Apply(ctx, SourceStatic, testDoc(1, "x"))
				s.Close()
				t.Fatalf("Open of a damaged file succeeded (then Desired: %v, Apply: %v)", derr, aerr)
			}
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open error = %v, want ErrCorrupt and ErrInvalid", err)
			}
			t.Logf("refused: %v", err)

			now := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
			s, err = Open(path, Options{MoveCorrupt: true, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatalf("Open with MoveCorrupt: %v", err)
			}
			defer s.Close()
			rec := s.Recovered()
			if rec == nil || !errors.Is(rec.Cause, ErrCorrupt) {
				t.Fatalf("Recovered = %+v, want a recovery with an ErrCorrupt cause", rec)
			}
			if want := path + ".corrupt-20261207T220000.000Z"; rec.Aside != want {
				t.Errorf("moved to %s, want %s", rec.Aside, want)
			}
			if aside, err := os.ReadFile(rec.Aside); err != nil || string(aside) != string(damaged) {
				t.Errorf("the file moved aside is not the damaged file as it was (err %v)", err)
			}
			if m := mustDesired(t, s); len(m.Pods) != 0 {
				t.Errorf("recovered store has %d pods, want none", len(m.Pods))
			}
			mustApply(t, s, SourceNode, testDoc(1, "a"))
			s = reopen(t, s, Options{MoveCorrupt: true})
			if s.Recovered() != nil {
				t.Errorf("a sound file was recovered again: %+v", s.Recovered())
			}
			if got := podNames(mustDesired(t, s)); len(got) != 1 || got[0] != "a" {
				t.Errorf("pods after reopen = %v, want [a]", got)
			}
		})
	}
}

// TestPanicAtRunTimeIsAnError: a page damaged under an open store (the
// check passed, the damage came later) makes bbolt panic inside a
// transaction; every method returns ErrCorrupt instead, Corrupted is
// closed, and the next Open moves the file aside although the file itself
// may look sound.
func TestPanicAtRunTimeIsAnError(t *testing.T) {
	ctx := context.Background()
	path := filledStore(t)
	sound, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := openT(t, path, Options{MoveCorrupt: true})
	// Damage the pages under bbolt's read-only map, through the file.
	rewritePages(t, path, flagLeaf, func(p []byte) { binary.LittleEndian.PutUint16(p[8:], 0x40) })

	_, err = s.Desired(ctx)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Desired on damaged pages: err = %v, want ErrCorrupt", err)
	}
	select {
	case <-s.Corrupted():
	default:
		t.Fatal("Corrupted is not closed")
	}
	if _, err := s.Apply(ctx, SourceStatic, testDoc(1, "x")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Apply after: err = %v, want ErrCorrupt", err)
	}
	if err := s.RecordEvent(ctx, api.Event{Reason: "R", Object: "node"}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("RecordEvent after: err = %v, want ErrCorrupt", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := os.Stat(path + markerSuffix); err != nil {
		t.Fatalf("no marker left for the next start: %v", err)
	}
	// Repair the pages: the file passes the check, the marker still says.
	if err := os.WriteFile(path, sound, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{})
	if !errors.Is(err, ErrCorrupt) {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("Open after a run-time panic: err = %v, want ErrCorrupt", err)
	}
	s2 = openT(t, path, Options{MoveCorrupt: true})
	if s2.Recovered() == nil {
		t.Fatal("not recovered")
	}
	if _, err := os.Stat(path + markerSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("marker left after the recovery: %v", err)
	}
	mustApply(t, s2, SourceNode, testDoc(1, "a"))
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// rewritePages applies fix to every page whose flags equal flags (an
// overflow continuation is not a page start, but its bytes rarely match).
func rewritePages(t *testing.T, path string, flags uint16, fix func(page []byte)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for off := 0; off+pageSize <= len(b); off += pageSize {
		p := b[off : off+pageSize]
		if binary.LittleEndian.Uint64(p) == uint64(off/pageSize) && binary.LittleEndian.Uint16(p[8:]) == flags {
			fix(p)
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no page with flags %#x in %s", flags, filepath.Base(path))
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
}
