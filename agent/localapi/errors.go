package localapi

import (
	"errors"
	"net/http"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime"
	"github.com/outpost-edge/outpost/store"
)

// Error kinds; the server maps them (and the store's, api's and runtime's
// matching sentinels) to status codes.
var (
	ErrNotFound    = errors.New("not found")
	ErrInvalid     = errors.New("invalid")
	ErrConflict    = errors.New("conflict")
	ErrUnavailable = errors.New("unavailable")
)

// Reasons carried by ErrorBody.
const (
	ReasonNotFound    = "NotFound"
	ReasonBadRequest  = "BadRequest"
	ReasonInvalid     = "Invalid"
	ReasonConflict    = "Conflict"
	ReasonUnavailable = "Unavailable"
	ReasonInternal    = "InternalError"
)

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
	// Problems lists what is wrong with an applied manifest (422 only).
	Problems []Problem `json:"problems,omitempty"`
}

// Problem is one problem at one path of a manifest.
type Problem struct {
	Path    string `json:"path,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// classify maps an error onto a status code and reason.
func classify(err error) (int, string) {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, store.ErrNotFound), errors.Is(err, runtime.ErrNotFound):
		return http.StatusNotFound, ReasonNotFound
	case errors.Is(err, api.ErrInvalid):
		return http.StatusUnprocessableEntity, ReasonInvalid
	case errors.Is(err, ErrInvalid), errors.Is(err, store.ErrInvalid), errors.Is(err, runtime.ErrInvalid):
		return http.StatusBadRequest, ReasonBadRequest
	case errors.Is(err, ErrConflict), errors.Is(err, store.ErrConflict):
		return http.StatusConflict, ReasonConflict
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable, ReasonUnavailable
	}
	return http.StatusInternalServerError, ReasonInternal
}

// problems turns a manifest validation error into its problems.
func problems(err error) []Problem {
	if !errors.Is(err, api.ErrInvalid) {
		return nil
	}
	list := api.AsErrorList(err)
	out := make([]Problem, len(list))
	for i, fe := range list {
		out[i] = Problem{Path: fe.Path, Line: fe.Line, Message: fe.Msg}
	}
	return out
}
