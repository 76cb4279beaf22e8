package main

import (
	"encoding/json"
	"fmt"
	"os"
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

// TestE2EExternalContainerdVersion: with containerd.address set, the node
// reports the version of the containerd it talks to, not the version of
// the containerd library compiled into the agent.
func TestE2EExternalContainerdVersion(t *testing.T) {
	ctrd := testenv.StartOSContainerd(t)
	sock, version := ctrd.Socket, ctrd.Version
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
	eventually(t, 30*time.Second, "the watcher's error in the log", func() error {
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
