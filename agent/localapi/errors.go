package localapi

import (
	"errors"
	"net/http"

	"github.com/containerd/errdefs"

	"github.com/outpost-edge/outpost/api"
)

// Error kinds, containerd's (errdefs) as the store's and the runtime's
// are: the server maps any error of one of these kinds to its status code,
// whichever package returned it, and api.ErrInvalid (a manifest's
// problems) to 422.
var (
	ErrNotFound    = errdefs.ErrNotFound
	ErrInvalid     = errdefs.ErrInvalidArgument.WithMessage("invalid")
	ErrConflict    = errdefs.ErrConflict.WithMessage("conflict")
	ErrUnavailable = errdefs.ErrUnavailable.WithMessage("unavailable")
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
	case errdefs.IsNotFound(err):
		return http.StatusNotFound, ReasonNotFound
	case errors.Is(err, api.ErrInvalid):
		return http.StatusUnprocessableEntity, ReasonInvalid
	case errdefs.IsInvalidArgument(err):
		return http.StatusBadRequest, ReasonBadRequest
	case errdefs.IsConflict(err):
		return http.StatusConflict, ReasonConflict
	case errdefs.IsUnavailable(err):
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
