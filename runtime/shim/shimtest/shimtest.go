// Package shimtest starts the test binaries of packages that run real
// containers: containerd runs the embedded server's shim from the test
// binary itself (its default ShimPath is this executable), as it runs the
// outpost binary, so such a binary must serve as the shim when started as
// one.
package shimtest

import (
	"os"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/runtime/ctrd"
	"github.com/outpost-edge/outpost/runtime/shim"
)

// Serve runs the shim and exits when the process was started as one;
// otherwise it routes containerd's global logs to stderr at level and
// returns, for TestMain to run the tests.
func Serve(level zerolog.Level) {
	if shim.IsShimInvocation(os.Args) {
		shim.Run()
		os.Exit(0)
	}
	ctrd.RouteGlobalLogs(zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(level))
}
