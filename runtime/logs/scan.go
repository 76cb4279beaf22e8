package logs

import (
	"bytes"
	"fmt"
	"io"
)

const (
	// maxRecord is the longest line a reader accepts; longer lines are not
	// the Writer's (its records stay under MaxLineSize plus a header) and are
	// skipped so that a corrupt file cannot make a reader buffer it whole.
	maxRecord = 2 << 20
	// scanChunk is the unit in which files are read, forwards and backwards.
	scanChunk = 64 << 10
)

// lineReader splits a file into lines as it grows. At EOF the bytes after
// the last newline stay buffered: a follower sees them completed by the
// next read, or takes them with rest once the file can no longer grow.
type lineReader struct {
	r          io.Reader
	buf        []byte
	start, end int // buffered bytes are buf[start:end]
	scanned    int // buf[start:scanned] holds no newline
	skipping   bool
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: r, buf: make([]byte, scanChunk)}
}

// next returns the next complete line without its newline, valid until the
// following call, or io.EOF when no complete line is buffered and the file
// has no more bytes for now.
func (lr *lineReader) next() ([]byte, error) {
	for {
		if i := bytes.IndexByte(lr.buf[lr.scanned:lr.end], '\n'); i >= 0 {
			nl := lr.scanned + i
			line := lr.buf[lr.start:nl]
			lr.start, lr.scanned = nl+1, nl+1
			if lr.skipping {
				lr.skipping = false
				continue
			}
			return line, nil
		}
		lr.scanned = lr.end
		if lr.end-lr.start >= maxRecord {
			lr.skipping = true
			lr.start, lr.end, lr.scanned = 0, 0, 0
		}
		if lr.start > 0 {
			n := copy(lr.buf, lr.buf[lr.start:lr.end])
			lr.start, lr.end, lr.scanned = 0, n, n
		}
		if lr.end == len(lr.buf) {
			lr.buf = append(lr.buf, make([]byte, len(lr.buf))...)
		}
		n, err := lr.r.Read(lr.buf[lr.end:])
		lr.end += n
		if n > 0 {
			continue
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		if err != io.EOF {
			err = fmt.Errorf("read log file: %w", err)
		}
		return nil, err
	}
}

// rest returns and forgets the buffered bytes after the last newline: the
// last line of a file that will not grow, torn if a writer crashed.
func (lr *lineReader) rest() []byte {
	b := lr.buf[lr.start:lr.end]
	if lr.skipping {
		b = nil
	}
	lr.start, lr.end, lr.scanned, lr.skipping = 0, 0, 0, false
	return b
}

// scanBack calls visit for each line of r[:size] from the last to the
// first, reading backwards in chunks, until visit returns false. next is the
// offset just after the line and its newline. The line is valid only during
// the call. A last line without a newline is visited too; lines longer than
// maxRecord are skipped.
func scanBack(r io.ReaderAt, size int64, visit func(line []byte, next int64) bool) error {
	if size == 0 {
		return nil
	}
	var (
		chunk = make([]byte, 0, scanChunk)
		cpos  = size // chunk holds r[cpos : cpos+len(chunk)]
		long  []byte
	)
	load := func() error {
		from := max(0, cpos-scanChunk)
		chunk = chunk[:cpos-from]
		if _, err := r.ReadAt(chunk, from); err != nil {
			return fmt.Errorf("read log file: %w", err)
		}
		cpos = from
		return nil
	}
	if err := load(); err != nil {
		return err
	}
	next, lineEnd := size, size // the current line is r[?:lineEnd]
	if chunk[len(chunk)-1] == '\n' {
		lineEnd--
	}
	for {
		// Find the newline that ends the previous line.
		nl := int64(-1)
		for {
			if hi := min(lineEnd-cpos, int64(len(chunk))); hi > 0 {
				if i := bytes.LastIndexByte(chunk[:hi], '\n'); i >= 0 {
					nl = cpos + int64(i)
					break
				}
			}
			if cpos == 0 {
				break
			}
			if err := load(); err != nil {
				return err
			}
		}
		start := nl + 1
		var line []byte
		switch {
		case lineEnd <= cpos+int64(len(chunk)):
			line = chunk[start-cpos : lineEnd-cpos]
		case lineEnd-start <= maxRecord:
			long = append(long[:0], make([]byte, lineEnd-start)...)
			if _, err := r.ReadAt(long, start); err != nil {
				return fmt.Errorf("read log file: %w", err)
			}
			line = long
		}
		if line != nil || start == lineEnd {
			if !visit(line, next) {
				return nil
			}
		}
		if nl < 0 {
			return nil
		}
		next, lineEnd = start, nl
	}
}
