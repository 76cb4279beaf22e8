package ctrd_test

import (
	"os"
	"testing"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/runtime/shim/shimtest"
)

// TestMain makes the test binary the shim; containerd's warnings are kept.
func TestMain(m *testing.M) {
	shimtest.Serve(zerolog.WarnLevel)
	os.Exit(m.Run())
}
