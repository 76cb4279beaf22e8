package runtimeapi_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/outpost-edge/outpost/runtime/containerspec"
	"github.com/outpost-edge/outpost/runtime/images"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// TestWaitingReason: each kind of start error the runtime returns, wrapped
// as it returns them, gives the waiting reason kubelet reports.
func TestWaitingReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{containerspec.ErrRunAsNonRoot, "CreateContainerConfigError"},
		{containerspec.ErrForbidden, "CreateContainerConfigError"},
		{containerspec.ErrHostPathType, "CreateContainerConfigError"},
		{images.ErrImagePull, "ErrImagePull"},
		{images.ErrImagePullBackOff, "ImagePullBackOff"},
		{images.ErrImageNeverPull, "ErrImageNeverPull"},
		{images.ErrInvalidImageName, "InvalidImageName"},
		{errors.New("runc create failed"), "CreateContainerError"},
		{fmt.Errorf("%w: %w", images.ErrImagePull, context.DeadlineExceeded), "CreateContainerError"},
	}
	for _, tt := range tests {
		wrapped := fmt.Errorf("container %q: %w", "app", tt.err)
		if got := runtimeapi.WaitingReason(wrapped); got != tt.want {
			t.Errorf("WaitingReason(%v) = %s, want %s", wrapped, got, tt.want)
		}
		if !errors.Is(wrapped, tt.err) {
			t.Errorf("%v does not wrap its kind", wrapped)
		}
	}
	if errors.Is(containerspec.ErrForbidden, containerspec.ErrHostPathType) {
		t.Error("two kinds of one reason are the same error")
	}
}
