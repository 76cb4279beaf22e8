package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/agent/localapi"
	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// replaceConfig replaces old (which must be there) with new in the node's
// configuration file: a section the base configuration already has cannot
// be appended a second time.
func (n *node) replaceConfig(old, new string) {
	n.t.Helper()
	b, err := os.ReadFile(n.config)
	if err != nil {
		n.t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		n.t.Fatalf("%q not in the configuration:\n%s", old, b)
	}
	if err := os.WriteFile(n.config, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		n.t.Fatal(err)
	}
}

// online reads the node's retained online message through outpostctl.
func (n *node) online(port int) (*protocol.Online, error) {
	out, err := n.ctl(port, "get", "nodes", "-o", "json")
	if err != nil {
		return nil, fmt.Errorf("outpostctl get nodes: %v: %s", err, out)
	}
	var nodes []struct {
		Name   string           `json:"name"`
		Online *protocol.Online `json:"online"`
	}
	if err := json.Unmarshal([]byte(out), &nodes); err != nil {
		return nil, fmt.Errorf("%w: %s", err, out)
	}
	for _, nd := range nodes {
		if nd.Name == "e2e" && nd.Online != nil {
			return nd.Online, nil
		}
	}
	return nil, fmt.Errorf("no online message for e2e: %s", out)
}

// TestE2ECleanStopSaysGoodbye: an agent stopped with SIGTERM leaves the
// retained online message of a clean stop (online false, reason shutdown),
// as docs/protocol.md promises, not the broker's Last Will: the agent waits
// for its link's goodbye before it closes the store and exits.
func TestE2ECleanStopSaysGoodbye(t *testing.T) {
	n := newNode(t)
	const port = 1883 // the agent's own network namespace: nothing else listens there
	n.brokerInAgentNet(port)
	n.appendConfig(fmt.Sprintf("mqtt: {brokers: [\"tcp://127.0.0.1:%d\"], backoff: {min: 100ms, max: 1s, reset: 10s}}\n", port))
	n.start()
	eventually(t, 30*time.Second, "the node online", func() error {
		on, err := n.online(port)
		if err != nil {
			return err
		}
		if !on.Online {
			return fmt.Errorf("online message %+v", *on)
		}
		return nil
	})
	n.stop()
	on, err := n.online(port)
	if err != nil {
		t.Fatal(err)
	}
	if on.Online || on.Reason != "shutdown" || on.Time == nil {
		t.Fatalf("retained online message after SIGTERM: %+v, want online false with reason shutdown (not the Last Will)", *on)
	}
}

// TestE2ELocalhostNodePorts: with network.localhostNodePorts on, a NodePort
// service answers on 127.0.0.1 of the node (the agent sets route_localnet
// in its network namespace).
func TestE2ELocalhostNodePorts(t *testing.T) {
	n := newNode(t)
	n.appendConfig("network: {localhostNodePorts: true}\n")
	n.manifest("web.yaml", webPod(0)+`---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: http, nodePort: 30080}]
`)
	if err := n.inAgentNet("ip", "link", "set", "lo", "up"); err != nil {
		t.Fatal(err)
	}
	n.start()
	eventually(t, 30*time.Second, "the node port on 127.0.0.1", func() error {
		body, err := n.httpGet("127.0.0.1:30080")
		if err != nil {
			return err
		}
		if strings.TrimSpace(body) != "web-0" {
			return fmt.Errorf("got %q", body)
		}
		return nil
	})
	n.stop()
}

// startOSContainerd runs the OS's containerd (Debian package containerd)
// on private directories and returns its socket and version; it is stopped
// at cleanup. Start it before newNode: the node's cleanup (a drain through
// this containerd) then runs first.
func startOSContainerd(t *testing.T) (sock, version string) {
	t.Helper()
	testenv.RequireRoot(t)
	bin := testenv.RequireBinary(t, "containerd", "containerd")
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	// "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3"
	if f := strings.Fields(string(out)); len(f) >= 3 {
		version = f[2]
	} else {
		t.Fatalf("containerd --version: %q", out)
	}
	dir, err := os.MkdirTemp("/tmp", "ctrd")
	if err != nil {
		t.Fatal(err)
	}
	sock = filepath.Join(dir, "containerd.sock")
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
	log := &syncBuffer{}
	cmd := exec.Command(bin, "--config", filepath.Join(dir, "config.toml"))
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			log.WriteLine(sc.Text())
		}
	}()
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
		pw.Close()
		exec.Command("umount", "-R", filepath.Join(dir, "state")).Run()
		os.RemoveAll(dir)
		if t.Failed() {
			t.Logf("containerd's log:\n%s", log.String())
		}
	})
	eventually(t, 20*time.Second, "containerd listening on "+sock, func() error {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err
	})
	return sock, version
}

// TestE2EExternalContainerdVersion: with containerd.address set, the node
// reports the version of the containerd it talks to, not the version of
// the containerd library compiled into the agent.
func TestE2EExternalContainerdVersion(t *testing.T) {
	sock, version := startOSContainerd(t)
	n := newNode(t)
	n.replaceConfig("containerd: {stateDir: ", fmt.Sprintf("containerd: {address: %s, stateDir: ", sock))
	n.start()
	eventually(t, 30*time.Second, "the node status", func() error {
		out, err := n.cli("status", "-o", "json")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		var v localapi.StatusView
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		if v.Node.Status == nil {
			return fmt.Errorf("no node status yet")
		}
		if got := v.Node.Status.NodeInfo.ContainerdVersion; got != version {
			t.Fatalf("ContainerdVersion %q, want the server's %q", got, version)
		}
		return nil
	})
	n.stop()
}

// TestE2EManifestWatcherErrorLogged: a manifest directory that cannot be
// watched (its parent is a file) leaves the agent running from its other
// sources, and says so at error level.
func TestE2EManifestWatcherErrorLogged(t *testing.T) {
	n := newNode(t)
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n.replaceConfig("manifestDir: "+n.manifests, "manifestDir: "+filepath.Join(file, "manifests"))
	n.start()
	eventually(t, 10*time.Second, "the watcher's error in the log", func() error {
		for _, line := range strings.Split(n.logs.String(), "\n") {
			var e struct{ Level, Message, Error string }
			if json.Unmarshal([]byte(line), &e) == nil && e.Level == "error" &&
				e.Message == "static manifest watcher stopped" && strings.Contains(e.Error, "not a directory") {
				return nil
			}
		}
		return fmt.Errorf("no error-level %q line", "static manifest watcher stopped")
	})
	n.stop()
}
