package api

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every decoding and validation error.
var ErrInvalid = errors.New("invalid")

// FieldError is one problem at one path of a document
// ("pods[web].spec.containers[0].livenessProbe.grpc: not supported").
type FieldError struct {
	Path string
	// Line is the 1-based line in the source document, 0 when unknown.
	Line int
	Msg  string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in a document, in document order.
type ErrorList []*FieldError

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (l ErrorList) Unwrap() error { return ErrInvalid }

// Err returns nil for an empty list, so callers can return it directly.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// AsErrorList returns the field errors inside err, or one error holding its text.
func AsErrorList(err error) ErrorList {
	var l ErrorList
	if errors.As(err, &l) {
		return l
	}
	return ErrorList{{Msg: err.Error()}}
}
