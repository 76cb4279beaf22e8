package logs

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// stepClock returns a clock that starts at epoch and advances 1ms a call.
func stepClock() func() time.Time {
	var n atomic.Int64
	return func() time.Time { return epoch.Add(time.Duration(n.Add(1)-1) * time.Millisecond) }
}

func logPath(t testing.TB) string { return filepath.Join(t.TempDir(), "c.log") }

// writeStreams writes the streams through a Writer and closes it.
func writeStreams(t testing.TB, path string, opts Options, stdout, stderr string) *Writer {
	t.Helper()
	w, err := NewWriter(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "" {
		if err := w.Attach(Stdout, strings.NewReader(stdout)); err != nil {
			t.Fatal(err)
		}
	}
	if stderr != "" {
		if err := w.Attach(Stderr, strings.NewReader(stderr)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

// records parses every line of a file, failing on a malformed one.
func records(t testing.TB, name string) []Record {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for line := range bytes.Lines(data) {
		if !bytes.HasSuffix(line, []byte{'\n'}) {
			t.Fatalf("%s: last line has no newline: %q", name, line)
		}
		r, err := ParseLine(line)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func readString(t testing.TB, path string, opts ReadOptions) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Read(context.Background(), path, opts, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// rec formats one record the way the Writer does.
func rec(i int, stream string, partial bool, content string) string {
	return string(appendRecord(nil, epoch.Add(time.Duration(i)*time.Second), stream, partial, []byte(content)))
}

func writeFile(t testing.TB, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is an output for a follower, read while it is written.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := strings.SplitAfter(b.buf.String(), "\n")
	return lines[:len(lines)-1] // "" after the last newline, or a line being written
}

// waitLines waits until the buffer holds at least n lines and returns them.
func (b *syncBuffer) waitLines(t testing.TB, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		lines := b.lines()
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("have %d lines, want %d: %q", len(lines), n, lines)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var _ io.Writer = (*syncBuffer)(nil)
