// Package logs writes and reads containers' log files in the CRI log format.
//
// A container's stdout and stderr are copied into one file, one record per
// line:
//
//	<RFC3339Nano time> <stdout|stderr> <F|P> <content>\n
//
// F marks the end of a line the container wrote; P marks a piece of a line
// that was cut because it was longer than the maximum line size or because
// the stream ended without a newline. Readers join P records up to the next
// F record of the same stream.
//
// The package owns the live file at a path and its rotated predecessors
// path.1 (newest) … path.N (oldest). Rotation is by size and is done by the
// [Writer]; [Read] reads across the set, tails it from the end and follows
// it across rotations.
package logs

import "errors"

// Stream names as they appear in records.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

var (
	// ErrInvalid is wrapped by errors about bad options, stream names and
	// malformed log lines.
	ErrInvalid = errors.New("invalid")
	// ErrClosed is returned by Attach after Close.
	ErrClosed = errors.New("log writer closed")
)

// streamIndex maps a valid stream name to 0 (stdout) or 1 (stderr).
func streamIndex(s string) int {
	if s == Stderr {
		return 1
	}
	return 0
}

func validStream(s string) bool { return s == Stdout || s == Stderr }
