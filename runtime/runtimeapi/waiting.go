package runtimeapi

import (
	"context"
	"errors"
)

// A waitingError is a kind of error that keeps a container from starting,
// with the waiting reason kubelet reports for it. Sentinels of this type
// are comparable, so errors.Is finds them through wrapping.
type waitingError struct{ reason, msg string }

func (e waitingError) Error() string         { return e.msg }
func (e waitingError) WaitingReason() string { return e.reason }

// NewWaitingError returns an error kind (a sentinel to wrap) whose
// containers wait with reason: ErrImagePull, CreateContainerConfigError...
func NewWaitingError(reason, msg string) error { return waitingError{reason: reason, msg: msg} }

// WaitingReason is the reason a container that failed to start with err
// waits with, as kubelet reports it: the reason of the error kind err wraps,
// else CreateContainerError (also for a start that timed out).
func WaitingReason(err error) string {
	var w interface{ WaitingReason() string }
	if errors.As(err, &w) && !errors.Is(err, context.DeadlineExceeded) {
		return w.WaitingReason()
	}
	return "CreateContainerError"
}
