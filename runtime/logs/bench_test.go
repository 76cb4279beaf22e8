package logs

import (
	"bufio"
	"context"
	"io"
	"os"
	"testing"
	"time"
)

const benchLine = "2026-01-02 03:04:05 INFO request served method=GET path=/api/v1/items status=200 bytes=5123 took=3ms\n"

// lineSource yields n copies of benchLine, in reads as large as asked.
type lineSource struct{ n, off int }

func (s *lineSource) Read(p []byte) (int, error) {
	if s.n == 0 {
		return 0, io.EOF
	}
	m := 0
	for m < len(p) && s.n > 0 {
		c := copy(p[m:], benchLine[s.off:])
		m += c
		s.off += c
		if s.off == len(benchLine) {
			s.off = 0
			s.n--
		}
	}
	return m, nil
}

// BenchmarkWrite copies a stream of 100-byte lines through a Writer (with
// its default rotation) and, as the same-run baseline, writes the same lines
// unformatted to a file through a bufio.Writer.
func BenchmarkWrite(b *testing.B) {
	dir := b.TempDir()
	b.SetBytes(int64(len(benchLine)))

	b.StopTimer()
	start := time.Now()
	f, err := os.Create(dir + "/baseline")
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	for range b.N {
		bw.WriteString(benchLine)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	baseline := time.Since(start)
	b.StartTimer()

	w, err := NewWriter(dir+"/c.log", Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Attach(Stdout, &lineSource{n: b.N}); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if w.Dropped() != 0 {
		b.Fatalf("dropped %d records", w.Dropped())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/line")
	b.ReportMetric(float64(baseline.Nanoseconds())/float64(b.N), "baseline:ns/line")
}
