package logs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Defaults applied by NewWriter to zero Options fields.
const (
	DefaultMaxSize     = 10 << 20
	DefaultMaxFiles    = 5
	DefaultMaxLineSize = 16 << 10
)

const (
	// maxLineSizeLimit bounds MaxLineSize so that every record stays well
	// under the longest line a reader accepts (maxRecord).
	maxLineSizeLimit = 1 << 20
	// minLineSize is bufio's smallest buffer.
	minLineSize = 16
	// batchLimit stops a copier from gathering more records for one write.
	batchLimit = 64 << 10
	fileMode   = 0o640
)

// Options configure a Writer. The zero value is usable.
type Options struct {
	// MaxSize is the size past which the live file is rotated (default
	// 10 MiB). A single record larger than MaxSize is written whole to a
	// fresh file.
	MaxSize int64
	// MaxFiles bounds the files kept, the live one included (default 5).
	MaxFiles int
	// MaxLineSize is the longest content of one record (default 16 KiB,
	// 16 B to 1 MiB); longer lines are cut into P records.
	MaxLineSize int
	// Clock stamps records (default time.Now).
	Clock func() time.Time
	// Logger receives the writer's logs; the zero value logs nothing.
	Logger zerolog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxSize < 0 || o.MaxFiles < 0 || o.MaxLineSize < 0 {
		return o, fmt.Errorf("%w: negative log writer option", ErrInvalid)
	}
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.MaxFiles == 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.MaxLineSize == 0 {
		o.MaxLineSize = DefaultMaxLineSize
	}
	if o.MaxLineSize < minLineSize || o.MaxLineSize > maxLineSizeLimit {
		return o, fmt.Errorf("%w: max line size %d is outside [%d, %d]",
			ErrInvalid, o.MaxLineSize, minLineSize, maxLineSizeLimit)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o, nil
}

// Writer copies container streams into a log file and rotates it. Its
// methods are safe for concurrent use.
//
// A Writer never stops reading an attached stream before EOF: a container
// whose stdout pipe is not drained blocks in write(2). When the file cannot
// be written, records are dropped and counted instead.
type Writer struct {
	path string
	opts Options
	log  zerolog.Logger
	wg   sync.WaitGroup

	dropped atomic.Uint64

	// mu is held for each write of whole records, so that records of the
	// two streams never mix and rotation never splits one.
	mu     sync.Mutex
	f      *os.File // nil once closed
	size   int64
	closed bool
	// torn is set when the file ends inside a record (a failed write, or a
	// crash before an agent restart): the next write first ends that line.
	torn bool
	// failing is set from the first dropped record, which is logged, to the
	// next successful write, so a full disk logs once rather than per record.
	failing bool
	// rotateFailing does the same for failed rotations.
	rotateFailing bool
}

// NewWriter opens the log file at path for appending, creating it if
// needed: a Writer reopened after an agent restart continues the file the
// container's earlier records are in. Rotated files beyond opts.MaxFiles
// are removed.
func NewWriter(path string, opts Options) (*Writer, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	w := &Writer{
		path: path,
		opts: opts,
		log:  opts.Logger.With().Str("component", "logs").Str("path", path).Logger(),
		f:    f,
	}
	if err := w.loadTail(); err != nil {
		f.Close()
		return nil, err
	}
	w.removeStale()
	return w, nil
}

// loadTail reads the size of the file and whether it ends inside a record.
func (w *Writer) loadTail() error {
	fi, err := w.f.Stat()
	if err != nil {
		return fmt.Errorf("stat log file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil // a device such as /dev/null: no size, nothing to inspect
	}
	w.size = fi.Size()
	if w.size == 0 {
		return nil
	}
	var last [1]byte
	if _, err := w.f.ReadAt(last[:], w.size-1); err != nil {
		return fmt.Errorf("read log file end: %w", err)
	}
	w.torn = last[0] != '\n'
	return nil
}

// Attach copies r into the file as stream (Stdout or Stderr) in its own
// goroutine until r returns EOF or another error.
func (w *Writer) Attach(stream string, r io.Reader) error {
	if !validStream(stream) {
		return fmt.Errorf("%w: stream %q", ErrInvalid, stream)
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.wg.Add(1)
	w.mu.Unlock()
	go func() {
		defer w.wg.Done()
		w.copyStream(stream, r)
	}()
	return nil
}

// Close waits until the attached streams reach EOF or ctx is done, then
// closes the file. Copiers still running after that keep draining their
// stream and drop what they read, so the container never blocks.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()

	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	var waitErr error
	select {
	case <-done:
	case <-ctx.Done():
		waitErr = fmt.Errorf("log streams still attached: %w", ctx.Err())
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return waitErr
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		err = fmt.Errorf("close log file: %w", err)
	}
	return errors.Join(waitErr, err)
}

// Dropped is the number of records that could not be written.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// batch is records formatted for one write. Its records share one time,
// formatted once.
type batch struct {
	buf    []byte
	ends   []int  // end offset in buf of each record
	prefix []byte // "<time> <stream>"
}

func (b *batch) reset(ts time.Time, stream string) {
	b.buf = b.buf[:0]
	b.ends = b.ends[:0]
	b.prefix = append(append(ts.AppendFormat(b.prefix[:0], timeLayout), ' '), stream...)
}

func (b *batch) add(partial bool, content []byte) {
	b.buf = append(b.buf, b.prefix...)
	if partial {
		b.buf = append(b.buf, " P "...)
	} else {
		b.buf = append(b.buf, " F "...)
	}
	b.buf = append(append(b.buf, content...), '\n')
	b.ends = append(b.ends, len(b.buf))
}

// copyStream reads r line by line and writes records until r fails. Lines
// already buffered are written together: one write(2) for many short lines.
func (w *Writer) copyStream(stream string, r io.Reader) {
	// The wrapper keeps bufio from reusing a caller's larger *bufio.Reader,
	// which would stop cutting lines at MaxLineSize.
	br := bufio.NewReaderSize(struct{ io.Reader }{r}, w.opts.MaxLineSize)
	var b batch
	for {
		line, err := br.ReadSlice('\n')
		if len(line) == 0 && err != nil {
			w.endStream(stream, err)
			return
		}
		// One time per batch: its lines arrived in the same read.
		b.reset(w.opts.Clock(), stream)
		for {
			switch err {
			case nil:
				b.add(false, line[:len(line)-1])
			case bufio.ErrBufferFull:
				b.add(true, line)
			default: // the stream ended inside a line
				if len(line) > 0 {
					b.add(true, line)
				}
				w.write(&b)
				w.endStream(stream, err)
				return
			}
			if len(b.buf) >= batchLimit || !lineReady(br) {
				break
			}
			line, err = br.ReadSlice('\n')
		}
		w.write(&b)
	}
}

func (w *Writer) endStream(stream string, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
		// EOF: the container closed it; ErrClosed: the agent detached
		// (shutdown) and the next agent re-attaches.
		w.log.Debug().Str("stream", stream).Msg("log stream ended")
		return
	}
	w.log.Warn().Err(err).Str("stream", stream).Msg("log stream failed")
}

// lineReady reports whether br can return a line or a full buffer without
// reading: a copier must not hold a batch while waiting on the container.
func lineReady(br *bufio.Reader) bool {
	n := br.Buffered()
	if n == 0 {
		return false
	}
	if n == br.Size() {
		return true
	}
	p, _ := br.Peek(n)
	return bytes.IndexByte(p, '\n') >= 0
}

// write appends the batch's records to the live file, rotating before a
// record that would take the file past MaxSize.
func (w *Writer) write(b *batch) {
	if len(b.ends) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		w.drop(len(b.ends), ErrClosed)
		return
	}
	start := 0 // offset in b.buf of the first record not yet written
	ends := b.ends
	for len(ends) > 0 {
		room := w.opts.MaxSize - w.size
		k := 0
		for k < len(ends) && int64(ends[k]-start) <= room {
			k++
		}
		if k == 0 {
			if w.size > 0 && w.rotate() {
				continue
			}
			// An oversized record goes whole into the fresh file; after a
			// failed rotation the live file grows past MaxSize.
			k = 1
			if w.size > 0 {
				k = len(ends)
			}
		}
		w.writeRecords(b.buf[start:ends[k-1]], k)
		start = ends[k-1]
		ends = ends[k:]
	}
}

// writeRecords writes p, which holds n whole records.
func (w *Writer) writeRecords(p []byte, n int) {
	if w.torn {
		m, err := w.f.Write([]byte{'\n'})
		w.size += int64(m)
		if err != nil {
			w.drop(n, err)
			return
		}
		w.torn = false
	}
	m, err := w.f.Write(p)
	w.size += int64(m)
	if err != nil {
		if m > 0 && p[m-1] != '\n' {
			w.torn = true
		}
		w.drop(bytes.Count(p[m:], []byte{'\n'}), err)
		return
	}
	if w.failing {
		w.failing = false
		w.log.Info().Uint64("dropped", w.dropped.Load()).Msg("log writes resumed")
	}
}

func (w *Writer) drop(n int, err error) {
	w.dropped.Add(uint64(n))
	if !w.failing {
		w.failing = true
		w.log.Error().Err(err).Msg("dropping container log records")
	}
}
