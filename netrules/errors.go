package netrules

import "errors"

var (
	// ErrUnsupported: the kernel lacks an nftables feature the rules need;
	// the message names the CONFIG_ options.
	ErrUnsupported = errors.New("kernel lacks nftables support")
	// ErrRejected: the kernel refused a sync's batch. Nothing of it was
	// applied: the previous ruleset is still in place, and the next sync is
	// a full one.
	ErrRejected = errors.New("nftables batch rejected")
	// ErrInvalid: an unusable Config.
	ErrInvalid = errors.New("invalid netrules config")
	// ErrClosed: the Rules was closed.
	ErrClosed = errors.New("netrules closed")
)
