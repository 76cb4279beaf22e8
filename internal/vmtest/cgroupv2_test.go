package vmtest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/internal/testenv"
)

// buildTestBinary compiles the tests of pkg into dir and returns the name.
func buildTestBinary(t *testing.T, dir, pkg string, tags ...string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = "/usr/local/go/bin/go" // where the Makefile looks too
	}
	name := filepath.Base(pkg) + ".test"
	args := []string{"test", "-c", "-o", filepath.Join(dir, name)}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command(gobin, append(args, pkg)...)
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test -c %s: %v\n%s", pkg, err, out)
	}
	return name
}

// TestOnCgroupV2 runs, with CI=true so that none may skip, the tests of
// the packages that touch cgroups in a guest whose only hierarchy is v2:
// the runtime's (real containerd, runc and CNI: cpu and memory limits, OOM
// kills, adoption after a killed agent and the rest) and node status's
// usage reader, on the cgroup version most devices run; and netrules' on
// the guest's Debian stable kernel.
func TestOnCgroupV2(t *testing.T) {
	testenv.RequireRoot(t)
	suites := []struct {
		pkg  string
		want []string // in the suite's output
	}{
		{"github.com/outpost-edge/outpost/runtime",
			[]string{"cgroup v2: ", "--- PASS: TestResourceLimits", "--- PASS: TestOOMKilled"}},
		{"github.com/outpost-edge/outpost/agent/nodestatus",
			[]string{"cgroup v2=true", "--- PASS: TestCgroupUsageKernel"}},
		// Not cgroups: nftables on Debian stable's kernel, older than most
		// build machines' and closer to what devices run.
		{"github.com/outpost-edge/outpost/netrules",
			[]string{"--- PASS: TestNetlinkMatchesText", "--- PASS: TestServiceSpreadsOverReadyPods"}},
	}
	dir := t.TempDir()
	var script strings.Builder
	script.WriteString("rc=0\n")
	for _, s := range suites {
		bin := buildTestBinary(t, dir, s.pkg)
		fmt.Fprintf(&script, "echo '=== suite %s'\nCI=true ./%s -test.v -test.count=1 -test.timeout=25m || rc=1\n", s.pkg, bin)
	}
	script.WriteString("exit $rc\n")
	res := bootGuest(t, dir, script.String())
	if res.ExitCode != 0 {
		t.Errorf("tests failed in the cgroup v2 guest (exit %d); their output is above", res.ExitCode)
	}
	for _, s := range suites {
		_, out, _ := strings.Cut(res.Output, "=== suite "+s.pkg+"\n")
		out, _, _ = strings.Cut(out, "=== suite ")
		for _, want := range s.want {
			if !strings.Contains(out, want) {
				t.Errorf("%s: guest output lacks %q", s.pkg, want)
			}
		}
		if strings.Contains(out, "--- SKIP") {
			t.Errorf("%s: a test skipped in the guest", s.pkg)
		}
	}
}
