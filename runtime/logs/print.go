package logs

import (
	"bufio"
	"fmt"
	"slices"
	"time"
)

// maxJoined bounds a line joined from P records; a longer one is printed in
// pieces of this size, so a stream that never writes a newline cannot make a
// reader buffer all of it.
const maxJoined = 4 << 20

// printer turns records into output lines: it drops other streams and
// malformed lines, and joins P records per stream.
type printer struct {
	out        *bufio.Writer
	stream     string // "" for both
	timestamps bool
	pend       [2]pending // by streamIndex
	// tail, while non-nil, keeps the last lines instead of printing them.
	tail *ring
}

// pending is a line of P records waiting for its F record.
type pending struct {
	open bool
	ts   time.Time // of the first piece
	buf  []byte
}

func (p *printer) handle(line []byte) error {
	rec, err := ParseLine(line)
	if err != nil {
		// Torn writes and foreign text are not the container's output.
		return nil
	}
	if p.stream != "" && rec.Stream != p.stream {
		return nil
	}
	pd := &p.pend[streamIndex(rec.Stream)]
	if !pd.open {
		if !rec.Partial {
			return p.emit(rec.Time, rec.Content)
		}
		pd.open, pd.ts, pd.buf = true, rec.Time, pd.buf[:0]
	}
	pd.buf = append(pd.buf, rec.Content...)
	if !rec.Partial || len(pd.buf) >= maxJoined {
		pd.open = false
		return p.emit(pd.ts, pd.buf)
	}
	return nil
}

// flushPending prints the lines whose F record never came, as when a
// stream ended without a newline, oldest first.
func (p *printer) flushPending() error {
	order := []*pending{&p.pend[0], &p.pend[1]}
	slices.SortFunc(order, func(a, b *pending) int { return a.ts.Compare(b.ts) })
	for _, pd := range order {
		if pd.open {
			pd.open = false
			if err := p.emit(pd.ts, pd.buf); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *printer) emit(ts time.Time, content []byte) error {
	if p.tail != nil {
		p.tail.add(p.timestamps, ts, content)
		return nil
	}
	if p.timestamps {
		var b [64]byte
		p.out.Write(append(ts.AppendFormat(b[:0], timeLayout), ' '))
	}
	p.out.Write(content)
	if err := p.out.WriteByte('\n'); err != nil {
		return fmt.Errorf("write log output: %w", err)
	}
	return nil
}

// endTail prints the lines kept for a tail and goes on printing directly.
func (p *printer) endTail() error {
	t := p.tail
	p.tail = nil
	if t == nil {
		return nil
	}
	for i := range t.n {
		line := t.lines[(t.next+len(t.lines)-t.n+i)%len(t.lines)]
		if _, err := p.out.Write(line); err != nil {
			return fmt.Errorf("write log output: %w", err)
		}
	}
	return nil
}

// ring keeps the last lines, formatted.
type ring struct {
	lines [][]byte
	next  int // slot the next line goes to
	n     int // lines kept
}

func newRing(size int) *ring { return &ring{lines: make([][]byte, size)} }

func (r *ring) add(timestamps bool, ts time.Time, content []byte) {
	if len(r.lines) == 0 {
		return
	}
	b := r.lines[r.next][:0]
	if timestamps {
		b = append(ts.AppendFormat(b, timeLayout), ' ')
	}
	b = append(append(b, content...), '\n')
	r.lines[r.next] = b
	r.next = (r.next + 1) % len(r.lines)
	r.n = min(r.n+1, len(r.lines))
}
