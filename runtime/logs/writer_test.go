package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

func TestWriterFormat(t *testing.T) {
	path := logPath(t)
	w, err := NewWriter(path, Options{Clock: stepClock()})
	if err != nil {
		t.Fatal(err)
	}
	// Lines that arrive in one read share a time; the next read gets the
	// clock's next reading.
	pr, pw := io.Pipe()
	if err := w.Attach(Stdout, pr); err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte("hello\n\nworld\n"))
	waitSize(t, path, 1)
	pw.Write([]byte("bye\n"))
	pw.Close()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := "2026-01-02T03:04:05Z stdout F hello\n" +
		"2026-01-02T03:04:05Z stdout F \n" +
		"2026-01-02T03:04:05Z stdout F world\n" +
		"2026-01-02T03:04:05.001Z stdout F bye\n"
	if data, _ := os.ReadFile(path); string(data) != want {
		t.Fatalf("file:\n%s\nwant:\n%s", data, want)
	}
}

// waitSize waits until the file at path has at least n bytes.
func waitSize(t *testing.T, path string, n int64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if fi, err := os.Stat(path); err == nil && fi.Size() >= n {
			return
		}
	}
	t.Fatalf("%s never reached %d bytes", path, n)
}

func TestWriterSplitsLongLines(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string // tag+content per record
	}{
		{name: "short", input: "abc\n", want: []string{"F abc"}},
		{name: "exactly max", input: "0123456789abcdef\n", want: []string{"P 0123456789abcdef", "F "}},
		{name: "longer", input: strings.Repeat("x", 40) + "\n",
			want: []string{"P " + strings.Repeat("x", 16), "P " + strings.Repeat("x", 16), "F " + strings.Repeat("x", 8)}},
		{name: "no final newline", input: "a\nbc", want: []string{"F a", "P bc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := logPath(t)
			writeStreams(t, path, Options{MaxLineSize: 16, Clock: stepClock()}, tt.input, "")
			var got []string
			for _, r := range records(t, path) {
				tag := "F "
				if r.Partial {
					tag = "P "
				}
				got = append(got, tag+string(r.Content))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("records %q, want %q", got, tt.want)
			}
			joined := strings.TrimSuffix(tt.input, "\n") + "\n"
			if out := readString(t, path, ReadOptions{Tail: -1}); out != joined {
				t.Fatalf("read %q, want %q", out, joined)
			}
		})
	}
}

// randomLines returns n lines of c with lengths up to maxLen.
func randomLines(r *rand.Rand, c byte, n, maxLen int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = strings.Repeat(string(c), r.IntN(maxLen)+1)
	}
	return lines
}

func TestWriterInterleavesWholeRecords(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	out := randomLines(r, 'o', 400, 3000)
	errs := randomLines(r, 'e', 400, 3000)
	path := logPath(t)
	w, err := NewWriter(path, Options{MaxLineSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	// Pipes written in small pieces make the two copiers race record by record.
	for stream, lines := range map[string][]string{Stdout: out, Stderr: errs} {
		pr, pw := io.Pipe()
		if err := w.Attach(stream, pr); err != nil {
			t.Fatal(err)
		}
		go func() {
			data := strings.Join(lines, "\n") + "\n"
			for len(data) > 0 {
				n := min(len(data), 700)
				pw.Write([]byte(data[:n]))
				data = data[n:]
			}
			pw.Close()
		}()
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	streams := map[string]string{}
	for _, r := range records(t, path) {
		want := byte('o')
		if r.Stream == Stderr {
			want = 'e'
		}
		if len(r.Content) > 1024 || strings.Trim(string(r.Content), string(want)) != "" {
			t.Fatalf("%s record mixes streams or is too long: %d bytes %.40q", r.Stream, len(r.Content), r.Content)
		}
	}
	for _, stream := range []string{Stdout, Stderr} {
		streams[stream] = readString(t, path, ReadOptions{Tail: -1, Stream: stream})
	}
	if got, want := streams[Stdout], strings.Join(out, "\n")+"\n"; got != want {
		t.Fatalf("stdout read back differs: %d bytes, want %d", len(got), len(want))
	}
	if got, want := streams[Stderr], strings.Join(errs, "\n")+"\n"; got != want {
		t.Fatalf("stderr read back differs: %d bytes, want %d", len(got), len(want))
	}
}

func numbered(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line-%04d\n", i)
	}
	return b.String()
}

func TestWriterRotates(t *testing.T) {
	const maxSize = 1024
	path := logPath(t)
	writeStreams(t, path, Options{MaxSize: maxSize, MaxFiles: 3, Clock: stepClock()}, numbered(0, 300), "")

	for _, name := range []string{path + ".3", path + ".tmp"} {
		if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: err = %v, want not exist", name, err)
		}
	}
	var contents []string
	for _, name := range []string{path + ".2", path + ".1", path} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > maxSize {
			t.Fatalf("%s is %d bytes, over %d", name, fi.Size(), maxSize)
		}
		for _, r := range records(t, name) { // every line parses: no record split
			contents = append(contents, string(r.Content))
		}
	}
	// The kept records are the newest, in order.
	want := strings.Split(strings.TrimSuffix(numbered(300-len(contents), 300), "\n"), "\n")
	if fmt.Sprint(contents) != fmt.Sprint(want) {
		t.Fatalf("kept %q, want %q", contents, want)
	}
	if len(contents) < 2*maxSize/50 {
		t.Fatalf("kept only %d records", len(contents))
	}
}

func TestWriterRotatesOversizedRecord(t *testing.T) {
	path := logPath(t)
	long := strings.Repeat("y", 300)
	writeStreams(t, path, Options{MaxSize: 100, MaxFiles: 3}, "a\n"+long+"\nb\n", "")
	for name, want := range map[string]string{path + ".2": "a", path + ".1": long, path: "b"} {
		recs := records(t, name)
		if len(recs) != 1 || string(recs[0].Content) != want {
			t.Fatalf("%s holds %d records, want one %.10q", name, len(recs), want)
		}
	}
}

func TestWriterMaxFilesOne(t *testing.T) {
	path := logPath(t)
	writeStreams(t, path, Options{MaxSize: 200, MaxFiles: 1}, numbered(0, 50), "")
	if _, err := os.Stat(path + ".1"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("path.1: err = %v, want not exist", err)
	}
	recs := records(t, path)
	if len(recs) == 0 || string(recs[len(recs)-1].Content) != "line-0049" {
		t.Fatalf("live file ends with %v", recs)
	}
}

func TestWriterReopenAppends(t *testing.T) {
	path := logPath(t)
	writeStreams(t, path, Options{}, "one\ntwo\n", "")
	w := writeStreams(t, path, Options{}, "three\n", "")
	if got := readString(t, path, ReadOptions{Tail: -1}); got != "one\ntwo\nthree\n" {
		t.Fatalf("read %q", got)
	}
	if w.Dropped() != 0 {
		t.Fatalf("dropped %d", w.Dropped())
	}
}

func TestWriterReopenFullFileRotates(t *testing.T) {
	path := logPath(t)
	writeStreams(t, path, Options{MaxSize: 64}, "0123456789\n", "")
	writeStreams(t, path, Options{MaxSize: 64}, "abc\n", "")
	if recs := records(t, path+".1"); len(recs) != 1 || string(recs[0].Content) != "0123456789" {
		t.Fatalf("path.1 holds %v", recs)
	}
	if got := readString(t, path, ReadOptions{Tail: -1}); got != "0123456789\nabc\n" {
		t.Fatalf("read %q", got)
	}
}

func TestWriterReopenRemovesStale(t *testing.T) {
	path := logPath(t)
	for _, name := range []string{path + ".2", path + ".5", path + ".x"} {
		writeFile(t, name, rec(0, Stdout, false, "old"))
	}
	writeStreams(t, path, Options{MaxFiles: 3}, "new\n", "")
	for name, exist := range map[string]bool{path + ".2": true, path + ".5": false, path + ".x": true} {
		if _, err := os.Stat(name); (err == nil) != exist {
			t.Fatalf("%s: err = %v, want exist %v", name, err, exist)
		}
	}
}

func TestWriterReopenAfterTornLine(t *testing.T) {
	path := logPath(t)
	writeStreams(t, path, Options{}, "before\n", "")
	// A crash in the middle of a record.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("2026-01-02T03:04:05.1Z stdo")
	f.Close()
	writeStreams(t, path, Options{}, "after\n", "")
	if got := readString(t, path, ReadOptions{Tail: -1}); got != "before\nafter\n" {
		t.Fatalf("read %q", got)
	}
	data, _ := os.ReadFile(path)
	if n := bytes.Count(data, []byte{'\n'}); n != 3 {
		t.Fatalf("file has %d lines, want 3 (the torn one ended): %q", n, data)
	}
}

// A container blocks when its output pipe is not read: a Writer that cannot
// write must keep reading and drop.
func TestWriterDropsWhenWritesFail(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("needs /dev/full to make writes fail with ENOSPC:", err)
	}
	w, err := NewWriter("/dev/full", Options{MaxSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	if err := w.Attach(Stdout, pr); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for i := range 2000 {
			if _, err := fmt.Fprintf(pw, "line %d\n", i); err != nil {
				done <- err
				return
			}
		}
		done <- pw.Close()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("container side blocked")
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := w.Dropped(); got != 2000 {
		t.Fatalf("dropped %d, want 2000", got)
	}
}

func TestWriterCloseWaitsForContext(t *testing.T) {
	path := logPath(t)
	w, err := NewWriter(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	if err := w.Attach(Stderr, pr); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(pw, "kept")
	waitSize(t, path, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want deadline exceeded", err)
	}
	if err := w.Attach(Stdout, strings.NewReader("x\n")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Attach after Close = %v, want ErrClosed", err)
	}
	// The stream is still drained after Close gave up.
	if _, err := fmt.Fprintln(pw, "dropped"); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if got := readString(t, path, ReadOptions{Tail: -1}); got != "kept\n" {
		t.Fatalf("read %q", got)
	}
}

func TestWriterOptions(t *testing.T) {
	for _, opts := range []Options{{MaxSize: -1}, {MaxFiles: -1}, {MaxLineSize: 8}, {MaxLineSize: 2 << 20}} {
		if _, err := NewWriter(logPath(t), opts); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewWriter(%+v) = %v, want ErrInvalid", opts, err)
		}
	}
	w, err := NewWriter(logPath(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	if err := w.Attach("stdin", strings.NewReader("")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Attach(stdin) = %v, want ErrInvalid", err)
	}
}
