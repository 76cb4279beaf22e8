// Package testenv lets integration tests say what they need from the machine
// (root, a binary, a kernel feature) and skip with the reason when it is
// missing, except under CI (CI=true), where a missing need fails the test:
// CI runs as root on a prepared machine, so a skip there would hide a test
// that never ran.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Skip skips t with reason outside CI and fails it under CI.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true and this test cannot run: %s", reason)
	}
	t.Skip(reason)
}

// RequireRoot needs uid 0.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root")
	}
}

// RequireBinary needs name on PATH and returns its path.
func RequireBinary(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Skip(t, name+" not found on PATH (Debian package "+debianPackage+"; make test installs it)")
	}
	return p
}
