package runtime_test

import (
	"os"
	"testing"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/runtime/shim/shimtest"
)

// TestMain lets the test binary serve as the shim, and as the agent process
// that TestKilledAgent kills.
func TestMain(m *testing.M) {
	shimtest.Serve(zerolog.ErrorLevel)
	if os.Getenv(childEnv) != "" {
		runChildAgent()
		return
	}
	os.Exit(m.Run())
}
