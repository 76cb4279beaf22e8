package logs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// entry is one record of a hand-made log set; file says which of the set it
// goes to (0 is the oldest).
type entry struct {
	file    int
	stream  string
	partial bool
	content string
}

// writeSet writes entries as the files path.N … path.1, path, and returns
// what a full read prints for each stream filter.
func writeSet(t *testing.T, path string, entries []entry) {
	t.Helper()
	nfiles := entries[len(entries)-1].file + 1
	data := make([]string, nfiles)
	for i, e := range entries {
		data[e.file] += rec(i, e.stream, e.partial, e.content)
	}
	for i, d := range data {
		name := path
		if n := nfiles - 1 - i; n > 0 {
			name = rotatedName(path, n)
		}
		writeFile(t, name, d)
	}
}

// joinEntries is the reference reader: the lines a read of entries prints.
func joinEntries(entries []entry, stream string) []string {
	var lines []string
	pend := map[string]string{}
	open := map[string]bool{}
	for _, e := range entries {
		if stream != "" && e.stream != stream {
			continue
		}
		pend[e.stream] += e.content
		open[e.stream] = true
		if !e.partial {
			lines = append(lines, pend[e.stream]+"\n")
			pend[e.stream], open[e.stream] = "", false
		}
	}
	for _, s := range []string{Stdout, Stderr} { // both never pend in the test data
		if open[s] {
			lines = append(lines, pend[s]+"\n")
		}
	}
	return lines
}

// sampleSet spreads 3 files with lines split into P records across files and
// interleaved with the other stream.
var sampleSet = []entry{
	{0, Stdout, false, "o1"},
	{0, Stderr, false, "e1"},
	{0, Stdout, true, "o2-a"},
	{0, Stderr, true, "e2-a"},
	{0, Stdout, true, "o2-b"},
	{1, Stderr, false, "e2-b"},
	{1, Stdout, false, "o2-c"},
	{1, Stdout, false, "o3"},
	{1, Stdout, false, ""},
	{1, Stderr, true, "e3-a"},
	{1, Stdout, false, "o5"},
	{2, Stdout, false, "o6"},
	{2, Stderr, false, "e3-b"},
	{2, Stdout, true, "o7-a"},
	{2, Stdout, false, "o7-b"},
	{2, Stderr, false, "e4"},
}

func TestReadTail(t *testing.T) {
	path := logPath(t)
	writeSet(t, path, sampleSet)
	for _, stream := range []string{"", Stdout, Stderr} {
		all := joinEntries(sampleSet, stream)
		for _, tail := range []int{-1, 0, 1, 2, 3, 4, 5, 7, 100} {
			want := all
			if tail >= 0 && tail < len(all) {
				want = all[len(all)-tail:]
			}
			got := readString(t, path, ReadOptions{Tail: tail, Stream: stream})
			if got != strings.Join(want, "") {
				t.Errorf("stream %q tail %d: got %q, want %q", stream, tail, got, want)
			}
		}
	}
}

func TestReadAcrossRotatedFiles(t *testing.T) {
	path := logPath(t)
	input := numbered(0, 200)
	writeStreams(t, path, Options{MaxSize: 700, MaxFiles: 20}, input, "")
	if _, err := os.Stat(path + ".9"); err != nil {
		t.Fatalf("expected many rotated files: %v", err)
	}
	if got := readString(t, path, ReadOptions{Tail: -1}); got != input {
		t.Fatalf("read %d bytes, want %d", len(got), len(input))
	}
	live := records(t, path)
	for _, tail := range []int{1, len(live), len(live) + 1, 37, 199, 200, 500} {
		want := numbered(max(0, 200-tail), 200)
		if got := readString(t, path, ReadOptions{Tail: tail}); got != want {
			t.Errorf("tail %d: got %q, want %q", tail, got, want)
		}
	}
}

// The tail is found reading backwards from the end, not by reading all.
func TestReadTailReadsFromTheEnd(t *testing.T) {
	path := logPath(t)
	line := rec(0, Stdout, false, strings.Repeat("h", 1000))
	head := strings.Repeat(line, 20000) // 20 MB
	writeFile(t, path, head+rec(1, Stdout, false, "last"))
	files, err := openSet(path)
	if err != nil {
		t.Fatal(err)
	}
	defer files[0].Close()
	_, off, err := tailStart(files, 2, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(head) - len(line)); off != want {
		t.Fatalf("tail starts at %d, want %d (the second line from the end)", off, want)
	}
	start := time.Now()
	if got := readString(t, path, ReadOptions{Tail: 2}); got != strings.Repeat("h", 1000)+"\nlast\n" {
		t.Fatalf("read %.60q", got)
	}
	t.Logf("tail of 20 MB in %v", time.Since(start))
}

func TestReadTimestamps(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, rec(0, Stdout, true, "a")+rec(1, Stdout, false, "b")+rec(2, Stderr, false, "c"))
	want := "2026-01-02T03:04:05Z ab\n2026-01-02T03:04:07Z c\n"
	for _, tail := range []int{-1, 2} {
		if got := readString(t, path, ReadOptions{Tail: tail, Timestamps: true}); got != want {
			t.Fatalf("tail %d: read %q, want %q", tail, got, want)
		}
	}
}

func TestReadToleratesMalformedLines(t *testing.T) {
	good := rec(0, Stdout, false, "one") + rec(1, Stderr, false, "two")
	tests := []struct {
		name string
		data string
		want string
	}{
		{name: "torn last line", data: good + "2026-01-02T03:04:0", want: "one\ntwo\n"},
		{name: "torn record", data: good + "2026-01-02T03:04:08Z stdout F thr", want: "one\ntwo\nthr\n"},
		{name: "garbage between", data: rec(0, Stdout, false, "one") + "not a log line\n\n\x00\x00\n" +
			rec(1, Stderr, false, "two"), want: "one\ntwo\n"},
		{name: "stream ended in a line", data: good + rec(2, Stdout, true, "tail"), want: "one\ntwo\ntail\n"},
		{name: "only garbage", data: "x\ny\n", want: ""},
		{name: "empty", data: "", want: ""},
		{name: "overlong line", data: strings.Repeat("z", maxRecord+10) + "\n" + good, want: "one\ntwo\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := logPath(t)
			writeFile(t, path, tt.data)
			if got := readString(t, path, ReadOptions{Tail: -1}); got != tt.want {
				t.Errorf("all: read %q, want %q", got, tt.want)
			}
			lines := strings.SplitAfter(tt.want, "\n")
			lines = lines[:len(lines)-1]
			for _, tail := range []int{1, 2, 5} {
				want := strings.Join(lines[max(0, len(lines)-tail):], "")
				if got := readString(t, path, ReadOptions{Tail: tail}); got != want {
					t.Errorf("tail %d: read %q, want %q", tail, got, want)
				}
			}
		})
	}
}

func TestReadDeduplicatesRotationInProgress(t *testing.T) {
	// Between the hard link and the rename of a rotation, path.1 is the
	// live file.
	path := logPath(t)
	writeFile(t, path+".2", rec(0, Stdout, false, "old"))
	writeFile(t, path, rec(1, Stdout, false, "live"))
	if err := os.Link(path, path+".1"); err != nil {
		t.Skip("needs hard links:", err)
	}
	if got := readString(t, path, ReadOptions{Tail: -1}); got != "old\nlive\n" {
		t.Fatalf("read %q", got)
	}
}

func TestReadErrors(t *testing.T) {
	path := logPath(t)
	err := Read(context.Background(), path, ReadOptions{Tail: -1}, &strings.Builder{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: err = %v, want ErrNotExist", err)
	}
	writeFile(t, path, "")
	err = Read(context.Background(), path, ReadOptions{Stream: "stdin"}, &strings.Builder{})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad stream: err = %v, want ErrInvalid", err)
	}
	writeFile(t, path, rec(0, Stdout, false, "x"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Read(ctx, path, ReadOptions{Tail: -1}, &strings.Builder{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: err = %v, want Canceled", err)
	}
}

func TestScanBack(t *testing.T) {
	var lines []string
	for i := range 500 {
		lines = append(lines, strings.Repeat(string(rune('a'+i%26)), i*37%(3*scanChunk/2)))
	}
	for _, data := range []string{"", "\n", "a", "a\n", "\n\n", strings.Join(lines, "\n"), strings.Join(lines, "\n") + "\n"} {
		path := logPath(t)
		writeFile(t, path, data)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		var ends []int64
		err = scanBack(f, int64(len(data)), func(line []byte, next int64) bool {
			got = append(got, string(line))
			ends = append(ends, next)
			return true
		})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(got)
		want := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
		if data == "" {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%d bytes: scanned %d lines, want %d", len(data), len(got), len(want))
		}
		if len(ends) > 0 && ends[0] != int64(len(data)) {
			t.Fatalf("last line ends at %d, want %d", ends[0], len(data))
		}
	}
}
