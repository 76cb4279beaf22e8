package vmtest

import (
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/internal/testenv"
)

// buildTestBinary compiles the tests of pkg into dir and returns the name.
func buildTestBinary(t *testing.T, dir, pkg string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(goruntime.GOROOT(), "bin", "go")
	}
	name := filepath.Base(pkg) + ".test"
	cmd := exec.Command(gobin, "test", "-c", "-o", filepath.Join(dir, name), pkg)
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test -c %s: %v\n%s", pkg, err, out)
	}
	return name
}

// TestRuntimeOnCgroupV2 runs the runtime's tests (real containerd, runc and
// CNI) in a guest whose only cgroup hierarchy is v2, with CI=true so none
// of them may skip: cpu and memory limits, OOM kills, adoption after a
// killed agent and the rest, on the cgroup version most devices run.
func TestRuntimeOnCgroupV2(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	bin := buildTestBinary(t, dir, "github.com/outpost-edge/outpost/runtime")
	res := bootGuest(t, dir, "CI=true ./"+bin+" -test.v -test.count=1 -test.timeout=25m")
	if res.ExitCode != 0 {
		t.Fatalf("the runtime tests failed in the cgroup v2 guest (exit %d); their output is above", res.ExitCode)
	}
	for _, want := range []string{"cgroup v2: ", "--- PASS: TestResourceLimits", "--- PASS: TestOOMKilled"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("guest output lacks %q", want)
		}
	}
	if strings.Contains(res.Output, "--- SKIP") {
		t.Errorf("a test skipped in the guest")
	}
}
