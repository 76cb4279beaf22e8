package ctrd_test

import (
	"os"
	"testing"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/runtime/ctrd"
	"github.com/outpost-edge/outpost/runtime/shim"
)

// TestMain makes the test binary the shim, as outpost's main does: the
// embedded server's default ShimPath is this executable, and containerd
// execs it with shim flags.
func TestMain(m *testing.M) {
	if shim.IsShimInvocation(os.Args) {
		shim.Run()
		os.Exit(0)
	}
	// containerd logs much through its global logger; keep the warnings.
	ctrd.RouteGlobalLogs(zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.WarnLevel))
	os.Exit(m.Run())
}
