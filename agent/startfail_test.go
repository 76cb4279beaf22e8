package agent

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// Kinds of start errors as the runtime returns them (containerspec's and
// images' sentinels are such; runtimeapi's test maps each).
var (
	errRunAsNonRoot = runtimeapi.NewWaitingError("CreateContainerConfigError", "container has runAsNonRoot")
	errImagePull    = runtimeapi.NewWaitingError("ErrImagePull", "image pull failed")
)

// TestStartFailureReasons: a container the node refuses as written waits
// with CreateContainerConfigError (retrying will not help until the spec
// or the node's configuration changes), other failures with
// CreateContainerError; the message says why.
func TestStartFailureReasons(t *testing.T) {
	tests := []struct {
		err    error
		reason string
	}{
		{fmt.Errorf("container %q: %w and image will run as root", "c", errRunAsNonRoot), "CreateContainerConfigError"},
		{errors.New("runc create failed: something"), "CreateContainerError"},
		{fmt.Errorf("%w: registry.example.com/app:1: not found", errImagePull), "ErrImagePull"},
	}
	for _, tt := range tests {
		t.Run(tt.reason+" "+tt.err.Error(), func(t *testing.T) {
			h := newHarness(t)
			h.rt.mu.Lock()
			h.rt.startErr = tt.err
			h.rt.mu.Unlock()
			h.apply(crashPod)
			st := h.status("crash", waiting(tt.reason))
			// Still so once a retry is due and failed again: not CrashLoopBackOff.
			h.clock.Advance(2 * time.Second)
			st = h.status("crash", waiting(tt.reason))
			if msg := st.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, tt.err.Error()) {
				t.Fatalf("message %q, want the cause %q", msg, tt.err)
			}
		})
	}
}
