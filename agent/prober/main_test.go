package prober

import (
	"os"
	"testing"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/runtime/ctrd"
	"github.com/outpost-edge/outpost/runtime/shim"
)

// TestMain lets the test binary serve as containerd's shim, as outpost's
// main does, for the exec tests against a real container.
func TestMain(m *testing.M) {
	if shim.IsShimInvocation(os.Args) {
		shim.Run()
		os.Exit(0)
	}
	ctrd.RouteGlobalLogs(zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.ErrorLevel))
	os.Exit(m.Run())
}
