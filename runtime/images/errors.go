package images

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/errdefs"

	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// The kinds of image errors a container status reports. Every error Ensure
// returns wraps exactly one of them; Reason names it, and so does
// runtimeapi.WaitingReason for the agent.
var (
	// ErrImagePull: the pull failed (after retries, for transient errors).
	ErrImagePull = runtimeapi.NewWaitingError("ErrImagePull", "image pull failed")
	// ErrImagePullBackOff: a recent pull of the image failed and the
	// back-off has not expired; no pull was tried.
	ErrImagePullBackOff = runtimeapi.NewWaitingError("ImagePullBackOff", "back-off pulling image")
	// ErrImageNeverPull: the policy is Never and the image is not present.
	ErrImageNeverPull = runtimeapi.NewWaitingError("ErrImageNeverPull", "image not present with pull policy Never")
	// ErrInvalidImageName: the reference does not parse.
	ErrInvalidImageName = runtimeapi.NewWaitingError("InvalidImageName", "invalid image name")
	// ErrInvalidConfig: a RegistryConfig or pull policy is unusable.
	ErrInvalidConfig = errors.New("invalid image config")
)

// Reason returns the kubelet waiting reason for err ("ErrImagePull",
// "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"), or "" for
// an error of none of those kinds.
func Reason(err error) string {
	for _, kind := range []error{ErrImagePullBackOff, ErrImageNeverPull, ErrInvalidImageName, ErrImagePull} {
		if errors.Is(err, kind) {
			return runtimeapi.WaitingReason(kind)
		}
	}
	return ""
}

// unauthorized reports whether the registry refused the credentials (or
// their absence).
func unauthorized(err error) bool {
	if errors.Is(err, docker.ErrInvalidAuthorization) || errdefs.IsUnauthorized(err) || errdefs.IsPermissionDenied(err) {
		return true
	}
	var st remoteerrors.ErrUnexpectedStatus
	if errors.As(err, &st) {
		return st.StatusCode == http.StatusUnauthorized || st.StatusCode == http.StatusForbidden
	}
	return false
}

// transient reports whether retrying the same pull may succeed: network
// failures, server errors and throttling are; a missing image, refused
// credentials, an untrusted certificate or a malformed image are not.
// Anything unrecognised counts as transient: on an edge link most failures
// are the link's.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if unauthorized(err) || errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) ||
		errdefs.IsNotImplemented(err) || errdefs.IsFailedPrecondition(err) {
		return false
	}
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return false
	}
	var st remoteerrors.ErrUnexpectedStatus
	if errors.As(err, &st) {
		switch {
		case st.StatusCode == http.StatusRequestTimeout, st.StatusCode == http.StatusTooManyRequests:
			return true
		case st.StatusCode >= 400 && st.StatusCode < 500:
			return false
		}
	}
	return true
}
