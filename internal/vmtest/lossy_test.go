package vmtest

import (
	"strings"
	"testing"
)

// TestStoreOnLossyDevice runs, with CI=true so that it may not skip, the
// store's power-cut test in a guest whose kernel has device-mapper's flakey
// target (build machines often lack it): the state file on ext4 over a
// device that starts dropping writes mid-commit must open consistent. The
// corrupt-file tests run there too, on Debian stable's kernel.
func TestStoreOnLossyDevice(t *testing.T) {
	dir := t.TempDir()
	// The power-cut test is built only with the lossydevice tag: on the
	// build machine its kernel feature is usually missing, and it runs here.
	bin := buildTestBinary(t, dir, "github.com/outpost-edge/outpost/store", "lossydevice")
	res := bootGuest(t, dir, "CI=true ./"+bin+" -test.v -test.count=1 -test.timeout=10m -test.run 'TestPowerCutOnLossyDevice|TestOpenCorrupt|TestPanicAtRunTime'\n")
	if res.ExitCode != 0 {
		t.Errorf("store tests failed in the guest (exit %d); their output is above", res.ExitCode)
	}
	for _, want := range []string{"--- PASS: TestPowerCutOnLossyDevice", "--- PASS: TestOpenCorrupt", "--- PASS: TestPanicAtRunTimeIsAnError"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("guest output lacks %q", want)
		}
	}
}
