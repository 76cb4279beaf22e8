package store

import (
	"errors"

	"github.com/containerd/errdefs"
)

// Error kinds. Every error the package returns for one of these reasons wraps
// the matching sentinel; test with errors.Is. ErrNotFound, ErrInvalid and
// ErrConflict are also containerd's kinds (errdefs.IsNotFound and so on), as
// the runtime's and the local API's are: a caller that maps kinds to answers
// tests those and need not list each package's sentinels.
var (
	// ErrNotFound: the thing asked for is not stored.
	ErrNotFound = errdefs.ErrNotFound
	// ErrInvalid: the input (or the file) cannot be accepted as it is.
	ErrInvalid = errdefs.ErrInvalidArgument.WithMessage("invalid")
	// ErrStale: a document's generation is older than the stored one, or
	// the same with other pods or services.
	ErrStale = errors.New("stale generation")
	// ErrConflict: the request clashes with what is stored (an address in use).
	ErrConflict = errdefs.ErrConflict.WithMessage("conflict")
	// ErrLocked: another process holds the state file.
	ErrLocked = errors.New("state file locked")
	// ErrCorrupt: the state file is damaged (it also wraps ErrInvalid), or
	// bbolt panicked on it while the store was open.
	ErrCorrupt = errors.New("corrupt state file")
	// ErrNewerSchema: the file was written by a newer Outpost.
	ErrNewerSchema = errors.New("newer schema")
	// ErrTooLarge: a single item exceeds a configured bound on its own.
	ErrTooLarge = errors.New("too large")
	// ErrExhausted: a pool (such as the service CIDR) has nothing left.
	ErrExhausted = errors.New("exhausted")
)
