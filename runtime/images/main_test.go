package images_test

import (
	"os"
	"testing"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/runtime/ctrd"
)

// TestMain keeps containerd's global log (its resolver logs every failed
// request at info) to warnings.
func TestMain(m *testing.M) {
	ctrd.RouteGlobalLogs(zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.WarnLevel))
	os.Exit(m.Run())
}
