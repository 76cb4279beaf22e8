package runtime_test

import (
	"os"
	"testing"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/runtime/ctrd"
	"github.com/outpost-edge/outpost/runtime/shim"
)

// TestMain lets the test binary serve as the shim, as outpost's main does,
// and as the agent process that TestKilledAgent kills.
func TestMain(m *testing.M) {
	if shim.IsShimInvocation(os.Args) {
		shim.Run()
		os.Exit(0)
	}
	ctrd.RouteGlobalLogs(zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.ErrorLevel))
	if os.Getenv(childEnv) != "" {
		runChildAgent()
		return
	}
	os.Exit(m.Run())
}
