package prober

import (
	"os"
	"testing"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/runtime/shim/shimtest"
)

// TestMain lets the test binary serve as containerd's shim, for the exec
// tests against a real container.
func TestMain(m *testing.M) {
	shimtest.Serve(zerolog.ErrorLevel)
	os.Exit(m.Run())
}
