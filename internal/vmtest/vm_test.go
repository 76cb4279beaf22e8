package vmtest

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"
)

// CacheDir is where kernels are kept between runs.
func cacheDir() string {
	if d := os.Getenv("OUTPOST_VMTEST_CACHE"); d != "" {
		return d
	}
	return "/var/cache/outpost-vmtest"
}

func TestCPIO(t *testing.T) {
	var buf bytes.Buffer
	w := newCPIO(&buf)
	if err := w.Dir("bin"); err != nil {
		t.Fatal(err)
	}
	if err := w.File("bin/x", 0o755, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := w.Symlink("bin/y", "x"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if len(b)%4 != 0 {
		t.Fatalf("archive length %d is not 4-aligned", len(b))
	}
	// Each header is 110 bytes of "070701" and 13 hex fields.
	if n := bytes.Count(b, []byte("070701")); n != 4 {
		t.Fatalf("%d headers, want 4", n)
	}
	for _, want := range []string{"bin/x\x00", "hello", "x", "TRAILER!!!\x00"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Fatalf("archive lacks %q", want)
		}
	}
	// The file entry's size field (7th) is 5.
	i := bytes.Index(b, []byte("bin/x\x00")) - 110
	if got := string(b[i+6+6*8 : i+6+7*8]); got != "00000005" {
		t.Fatalf("filesize field = %s", got)
	}
}

// bootGuest boots a guest running script in job directory dir ("" for a
// new one) and returns its result.
func bootGuest(t *testing.T, dir, script string) *Result {
	t.Helper()
	testenv.RequireRoot(t)
	if _, err := Qemu(); err != nil {
		testenv.Skip(t, "qemu-system-x86_64: "+err.Error()+" (Debian package qemu-system-x86; make test installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	k, err := FetchKernel(ctx, cacheDir())
	if err != nil {
		testenv.Skip(t, err.Error())
	}
	if dir == "" {
		dir = t.TempDir()
	}
	res, err := Run(ctx, Job{Kernel: k, Dir: dir, Script: script, Console: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("guest %s (%s) ready after %v, exit %d", k.Version, res.Accel, res.Boot.Round(time.Millisecond), res.ExitCode)
	return res
}

func TestGuestHasCgroupV2Only(t *testing.T) {
	res := bootGuest(t, "", `stat -fc %T /sys/fs/cgroup; cat /sys/fs/cgroup/cgroup.controllers; cat /proc/self/cgroup
grep -c cgroup /proc/mounts; exit 3`)
	if res.ExitCode != 3 {
		t.Fatalf("exit code %d, want the script's 3", res.ExitCode)
	}
	lines := strings.Split(strings.TrimSpace(res.Output), "\n")
	if len(lines) < 4 || lines[0] != "cgroup2fs" || lines[2] != "0::/" || lines[3] != "1" {
		t.Fatalf("guest output:\n%s", res.Output)
	}
	for _, c := range []string{"cpu", "memory", "pids"} {
		if !strings.Contains(" "+lines[1]+" ", " "+c+" ") {
			t.Errorf("controller %s missing from %q", c, lines[1])
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
