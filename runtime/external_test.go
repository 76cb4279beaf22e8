package runtime_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime"
)

// startContainerd runs the OS's containerd (Debian package containerd) on
// private directories and returns its socket; it is stopped at cleanup.
func startContainerd(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	bin := testenv.RequireBinary(t, "containerd", "containerd")
	dir, err := os.MkdirTemp("/tmp", "ctrd")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "containerd.sock")
	conf := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
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
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not listen on %s:\n%s", sock, log.String())
		}
	}
}

// TestExternalContainerd runs a pod through a containerd the device already
// runs (containerd.address): the OS's own, with its own shim.
func TestExternalContainerd(t *testing.T) {
	sock := startContainerd(t)
	network := withPodNetwork(t)
	e := newEnv(t, func(c *runtime.Config) {
		network(c)
		c.ContainerdAddress = sock
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := e.rt.Events(ctx)
	doc := `apiVersion: v1
kind: Pod
metadata: {name: outside}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: IMAGE
    imagePullPolicy: Never
    command: ["sh", "-c", "hostname; ip -o -4 addr show eth0 | grep -q inet && echo networked; exit 4"]
    resources: {limits: {memory: 32Mi}}
`
	_, sb, started := e.run(pod(t, doc))
	exit := waitExit(t, events, started[0].ID, 30*time.Second)
	if exit.Code != 4 || exit.Reason != runtime.ReasonError {
		t.Fatalf("exit = %+v, want code 4", exit)
	}
	log := logText(readLog(t, started[0].LogPath))
	ip, ok := sb.IP()
	if log != "outside\nnetworked\n" || !ok {
		t.Fatalf("pod IP %v, log %q", ip, log)
	}
	obs, err := e.rt.List(ctx)
	if err != nil || len(obs) != 1 || obs[0].ID != started[0].ID {
		t.Fatalf("List = %+v, %v", obs, err)
	}
}
