package localapi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// UpgradeProtocol is the Upgrade token of an exec session.
const UpgradeProtocol = "outpost-exec"

// Stream ids of exec frames.
const (
	StreamStdin      byte = 0
	StreamStdout     byte = 1
	StreamStderr     byte = 2
	StreamExit       byte = 3
	StreamStdinClose byte = 4
)

// MaxFramePayload bounds one frame's payload; writers split longer writes
// and readers refuse longer frames, so a bad peer cannot make either side
// allocate without bound.
const MaxFramePayload = 64 << 10

const frameHeader = 5

// Framer writes frames to one connection; it is safe for concurrent use,
// as stdout and stderr are copied by different goroutines.
type Framer struct {
	mu  sync.Mutex
	w   io.Writer
	hdr [frameHeader]byte
}

// NewFramer returns a Framer writing to w.
func NewFramer(w io.Writer) *Framer { return &Framer{w: w} }

// WriteFrame writes p on stream, split into frames of at most
// MaxFramePayload bytes; an empty p writes one empty frame.
func (f *Framer) WriteFrame(stream byte, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for first := true; first || len(p) > 0; first = false {
		chunk := p[:min(len(p), MaxFramePayload)]
		p = p[len(chunk):]
		f.hdr[0] = stream
		binary.BigEndian.PutUint32(f.hdr[1:], uint32(len(chunk)))
		if _, err := f.w.Write(f.hdr[:]); err != nil {
			return err
		}
		if _, err := f.w.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}

// Stream is an io.Writer that writes its data as frames of one stream.
func (f *Framer) Stream(stream byte) io.Writer { return streamWriter{f, stream} }

type streamWriter struct {
	f      *Framer
	stream byte
}

func (s streamWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := s.f.WriteFrame(s.stream, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ReadFrame reads one frame. Its payload is freshly allocated. A connection
// closed between frames is io.EOF; closed inside one, io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader) (stream byte, payload []byte, err error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxFramePayload {
		return 0, nil, fmt.Errorf("%w: exec frame of %d bytes, more than %d", ErrInvalid, n, MaxFramePayload)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return hdr[0], payload, nil
}

// ExitPayload encodes an exit frame: the code, then why the command could
// not run or was stopped, if it was.
func ExitPayload(code int, msg string) []byte {
	p := binary.BigEndian.AppendUint32(nil, uint32(int32(code)))
	return append(p, msg...)
}

// ParseExit decodes an exit frame's payload.
func ParseExit(p []byte) (code int, msg string, err error) {
	if len(p) < 4 {
		return -1, "", fmt.Errorf("%w: exit frame of %d bytes", ErrInvalid, len(p))
	}
	return int(int32(binary.BigEndian.Uint32(p))), string(p[4:]), nil
}
