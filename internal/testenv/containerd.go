package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// OSContainerd is a containerd of the OS's own (Debian package containerd)
// that a test started, for the tests of `containerd.address`.
type OSContainerd struct {
	Socket  string
	Version string // as it prints it, e.g. "1.6.20~ds1"
}

// StartOSContainerd runs the OS's containerd on private directories (CRI
// off) until the test's cleanup stops it. Call it before anything whose
// cleanup still talks to it: cleanups run last-registered first.
func StartOSContainerd(t testing.TB) OSContainerd {
	t.Helper()
	RequireRoot(t)
	bin := RequireBinary(t, "containerd", "containerd")
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	// "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3"
	f := strings.Fields(string(out))
	if len(f) < 3 {
		t.Fatalf("containerd --version: %q", out)
	}
	dir, err := os.MkdirTemp("/tmp", "ctrd")
	if err != nil {
		t.Fatal(err)
	}
	c := OSContainerd{Socket: filepath.Join(dir, "containerd.sock"), Version: f[2]}
	conf := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"+
		"[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.Socket, c.Socket+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var log Buffer
	cmd := exec.Command(bin, "--config", filepath.Join(dir, "config.toml"))
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		exec.Command("umount", "-R", filepath.Join(dir, "state")).Run()
		os.RemoveAll(dir)
		if t.Failed() {
			t.Logf("containerd's log:\n%s", log.String())
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if conn, err := net.Dial("unix", c.Socket); err == nil {
			conn.Close()
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not listen on %s:\n%s", c.Socket, log.String())
		}
	}
}

// ShimPIDs lists the running shim daemons of the containerd whose state
// dir is state (their command line names its socket), not the short-lived
// `start` and `delete` invocations: a test's own shims, never another's.
func ShimPIDs(state string) []string {
	sock := filepath.Join(state, "containerd.sock")
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []string
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if i := slices.Index(args, "-address"); i >= 0 && i+1 < len(args) && args[i+1] == sock &&
			!slices.Contains(args, "start") && !slices.Contains(args, "delete") {
			pids = append(pids, filepath.Base(filepath.Dir(p)))
		}
	}
	return pids
}
