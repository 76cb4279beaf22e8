package logs

import (
	"bytes"
	"fmt"
	"time"
)

const timeLayout = time.RFC3339Nano

// Record is one parsed line of a log file.
type Record struct {
	Time   time.Time
	Stream string // Stdout or Stderr
	// Partial is set for P records: Content continues in the stream's next
	// record.
	Partial bool
	// Content excludes the record's trailing newline. ParseLine returns it
	// as a sub-slice of its input, not a copy.
	Content []byte
}

// appendRecord appends one formatted record to dst.
func appendRecord(dst []byte, ts time.Time, stream string, partial bool, content []byte) []byte {
	dst = ts.AppendFormat(dst, timeLayout)
	dst = append(dst, ' ')
	dst = append(dst, stream...)
	if partial {
		dst = append(dst, " P "...)
	} else {
		dst = append(dst, " F "...)
	}
	dst = append(dst, content...)
	return append(dst, '\n')
}

// ParseLine parses one log line, with or without its trailing newline.
// Errors wrap ErrInvalid.
//
// A tag may carry ':'-separated attributes after F or P, as the CRI format
// allows; they are ignored. A line with an empty content may lack the space
// after the tag.
func ParseLine(line []byte) (Record, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return Record{}, fmt.Errorf("%w: log line has no stream", ErrInvalid)
	}
	t, err := time.Parse(timeLayout, string(ts))
	if err != nil {
		return Record{}, fmt.Errorf("%w: log line time: %v", ErrInvalid, err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return Record{}, fmt.Errorf("%w: log line has no tag", ErrInvalid)
	}
	var rec Record
	switch string(stream) {
	case Stdout:
		rec.Stream = Stdout
	case Stderr:
		rec.Stream = Stderr
	default:
		return Record{}, fmt.Errorf("%w: log line stream %q", ErrInvalid, stream)
	}
	tag, content, _ := bytes.Cut(rest, []byte{' '})
	tag, _, _ = bytes.Cut(tag, []byte{':'})
	switch string(tag) {
	case "F":
	case "P":
		rec.Partial = true
	default:
		return Record{}, fmt.Errorf("%w: log line tag %q", ErrInvalid, tag)
	}
	rec.Time = t
	rec.Content = content
	return rec, nil
}
