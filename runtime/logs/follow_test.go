package logs

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// startFollow runs a following Read in the background; stop cancels it and
// returns its error.
func startFollow(t *testing.T, path string, opts ReadOptions) (*syncBuffer, func() error) {
	t.Helper()
	opts.Follow = true
	opts.PollInterval = 2 * time.Millisecond
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Read(ctx, path, opts, out) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("follow did not stop on cancel")
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	return out, stop
}

// newTestWriter returns a Writer closed when the test ends, after the
// pipes attachPipe opens later.
func newTestWriter(t *testing.T, path string, opts Options) *Writer {
	t.Helper()
	w, err := NewWriter(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := w.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return w
}

func attachPipe(t *testing.T, w *Writer, stream string) *io.PipeWriter {
	t.Helper()
	pr, pw := io.Pipe()
	if err := w.Attach(stream, pr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.Close() })
	return pw
}

func TestFollowAppended(t *testing.T) {
	path := logPath(t)
	w := newTestWriter(t, path, Options{MaxLineSize: 16})
	stdout, stderr := attachPipe(t, w, Stdout), attachPipe(t, w, Stderr)
	fmt.Fprintln(stdout, "before-1")
	fmt.Fprintln(stdout, "before-2")
	waitSize(t, path, 2)
	for len(records(t, path)) < 2 {
		time.Sleep(time.Millisecond)
	}

	out, stop := startFollow(t, path, ReadOptions{Tail: 1})
	if got := out.waitLines(t, 1); got[0] != "before-2\n" {
		t.Fatalf("tail printed %q", got)
	}
	fmt.Fprintln(stderr, "err-1")
	out.waitLines(t, 2)
	fmt.Fprintln(stdout, "a line longer than sixteen bytes")
	fmt.Fprintln(stdout, "after")
	got := out.waitLines(t, 4)
	if err := stop(); err != nil {
		t.Fatalf("follow returned %v", err)
	}
	want := []string{"before-2\n", "err-1\n", "a line longer than sixteen bytes\n", "after\n"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("followed %q, want %q", got, want)
	}
}

func TestFollowAcrossRotations(t *testing.T) {
	path := logPath(t)
	w := newTestWriter(t, path, Options{MaxSize: 400, MaxFiles: 4})
	stdout := attachPipe(t, w, Stdout)
	fmt.Fprintln(stdout, "line-0000")
	waitSize(t, path, 1)

	out, stop := startFollow(t, path, ReadOptions{Tail: -1})
	const bursts, perBurst = 40, 7 // ~2 rotations per 3 bursts, sometimes 2 between polls
	next := 1
	for b := range bursts {
		for range perBurst {
			fmt.Fprintf(stdout, "line-%04d\n", next)
			next++
		}
		// Let the follower catch up before the files it needs are removed.
		out.waitLines(t, 1+(b+1)*perBurst)
	}
	got := out.lines()
	if err := stop(); err != nil {
		t.Fatalf("follow returned %v", err)
	}
	want := strings.SplitAfter(numbered(0, next), "\n")
	want = want[:len(want)-1]
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("followed %d lines, want %d:\n%q", len(got), len(want), got)
	}
	if _, err := os.Stat(path + ".3"); err != nil {
		t.Fatalf("the test should have rotated several times: %v", err)
	}
}

// Several rotations between two polls are followed file by file.
func TestFollowSeveralRotationsBetweenPolls(t *testing.T) {
	path := logPath(t)
	w := newTestWriter(t, path, Options{MaxSize: 200, MaxFiles: 10})
	stdout := attachPipe(t, w, Stdout)
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Read(ctx, path, ReadOptions{Tail: -1, Follow: true, PollInterval: 300 * time.Millisecond}, out)
	}()
	// A follower prints what a poll found, then sleeps until the next:
	// once the first line is out, the rest is written during that sleep.
	fmt.Fprint(stdout, numbered(0, 1))
	out.waitLines(t, 1)
	fmt.Fprint(stdout, numbered(1, 30))
	got := out.waitLines(t, 30)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(got, ""); got != numbered(0, 30) {
		t.Fatalf("followed %q", got)
	}
	if _, err := os.Stat(path + ".3"); err != nil {
		t.Fatalf("the test should have rotated several times: %v", err)
	}
}

func TestFollowStopsOnCancel(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, rec(0, Stdout, false, "x")+rec(1, Stdout, true, "pending"))
	out, stop := startFollow(t, path, ReadOptions{Tail: -1})
	out.waitLines(t, 1)
	if err := stop(); err != nil {
		t.Fatalf("follow returned %v, want nil", err)
	}
	// A line still waiting for its F record is not printed by a follower.
	if got := out.lines(); len(got) != 1 || got[0] != "x\n" {
		t.Fatalf("followed %q", got)
	}
}

func TestFollowCompletesTornLine(t *testing.T) {
	path := logPath(t)
	full := rec(1, Stdout, false, "whole")
	writeFile(t, path, rec(0, Stdout, false, "before")+full[:10])
	out, stop := startFollow(t, path, ReadOptions{Tail: -1})
	// The line before is printed once the follower has read the file to
	// its end, the torn record's start included.
	out.waitLines(t, 1)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(full[10:])
	f.Close()
	got := out.waitLines(t, 2)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1] != "whole\n" {
		t.Fatalf("followed %q", got)
	}
}
