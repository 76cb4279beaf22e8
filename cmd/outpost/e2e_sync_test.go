package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"
)

var (
	ctlOnce     sync.Once
	ctlBuildErr error
)

// outpostctlBinary builds cmd/outpostctl once per test run.
func outpostctlBinary(t testing.TB) string {
	t.Helper()
	p := filepath.Join(filepath.Dir(outpostBinary(t)), "outpostctl")
	ctlOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", p, "../outpostctl")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			ctlBuildErr = fmt.Errorf("go build outpostctl: %v\n%s", err, out)
		}
	})
	if ctlBuildErr != nil {
		t.Fatal(ctlBuildErr)
	}
	return p
}

// brokerInAgentNet starts mosquitto inside the agent's network namespace,
// the only place the agent (which has no other network) can reach it.
func (n *node) brokerInAgentNet(port int) {
	n.t.Helper()
	bin := testenv.RequireBinary(n.t, "mosquitto", "mosquitto")
	dir := n.t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port)), 0o644)
	ns, err := n.netns()
	if err != nil {
		n.t.Fatal(err)
	}
	if err := n.inAgentNet("ip", "link", "set", "lo", "up"); err != nil {
		n.t.Fatal(err)
	}
	var cmd *exec.Cmd
	if err := ns.Do(func() error {
		cmd = exec.Command(bin, "-c", conf)
		return cmd.Start() // forked on a thread in the agent's namespace
	}); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	eventually(n.t, 30*time.Second, "mosquitto listening", func() error {
		return ns.Do(func() error {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
	})
}

// ctl runs outpostctl inside the agent's network namespace.
func (n *node) ctl(port int, args ...string) (string, error) {
	ns, err := n.netns()
	if err != nil {
		return "", err
	}
	var out []byte
	err = ns.Do(func() error {
		var err error
		full := append(args, "--broker", "tcp://127.0.0.1:"+strconv.Itoa(port))
		out, err = exec.Command(outpostctlBinary(n.t), full...).CombinedOutput()
		return err
	})
	return string(out), err
}

// TestE2EControlPlane: an agent that booted with its broker unreachable runs
// calmly; once the broker appears, `outpostctl apply --wait` delivers a
// document, the agent stores it, runs its pod and reports it observed, and
// `outpostctl get nodes` shows the node online.
func TestE2EControlPlane(t *testing.T) {
	n := newNode(t)
	const port = 1883 // the agent's own network namespace: nothing else listens there
	n.appendConfig(fmt.Sprintf("mqtt: {brokers: [\"tcp://127.0.0.1:%d\"], backoff: {min: 100ms, max: 1s, reset: 10s}}\n", port))
	n.manifest("local.yaml", httpdPod("local", "local-pod"))
	n.start()
	n.waitServes("local", "local-pod") // no broker: static pods run anyway

	n.brokerInAgentNet(port)
	doc := filepath.Join(t.TempDir(), "remote.yaml")
	os.WriteFile(doc, []byte(httpdPod("remote", "from-the-control-plane")), 0o644)
	out, err := n.ctl(port, "apply", "-f", doc, "--node", "e2e", "--wait", "--timeout", "60s")
	if err != nil {
		t.Fatalf("outpostctl apply --wait: %v\n%s", err, out)
	}
	n.waitServes("remote", "from-the-control-plane")
	out, err = n.ctl(port, "get", "nodes")
	if err != nil || !strings.Contains(out, "e2e") {
		t.Fatalf("outpostctl get nodes: %v\n%s", err, out)
	}
	if out, _ := n.cli("status"); !strings.Contains(out, "connected") {
		t.Errorf("outpost status does not show the link connected:\n%s", out)
	}
	n.stop()
}
