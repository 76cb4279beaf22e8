package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/agent/identity"
	"github.com/outpost-edge/outpost/agent/localapi"
)

// status reads `outpost status -o json`, waiting until the node status is in.
func (n *node) status() localapi.StatusView {
	n.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := n.cli("status", "-o", "json")
		var v localapi.StatusView
		if err == nil {
			if err = json.Unmarshal([]byte(out), &v); err == nil && v.Node.Status != nil {
				return v
			}
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("outpost status: %v: %s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestE2EIdentity: with nodeName auto, the agent names itself by the rule,
// creates its key pair and instance id at first start (mode 0600 under the
// data dir), reports both in its node status, and keeps them across a
// restart.
func TestE2EIdentity(t *testing.T) {
	n := newNode(t)
	n.replaceConfig("nodeName: e2e\n", "nodeName: auto\nnodeNamePrefix: e2e\n")
	n.start()
	first := n.status()
	for _, f := range []string{identity.KeyFile, identity.InstanceIDFile} {
		fi, err := os.Stat(filepath.Join(n.data, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v (want mode 0600)", f, err)
		}
	}
	id, err := identity.Load(n.data, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	info := first.Node.Status.NodeInfo
	if info.InstanceID != id.InstanceID || info.PublicKey != id.PublicKey() {
		t.Fatalf("reported instance %q key %q; the data dir holds %q %q", info.InstanceID, info.PublicKey, id.InstanceID, id.PublicKey())
	}
	host, _ := os.Hostname()
	want := identity.NodeName(identity.Machine{Root: os.DirFS("/"), Hostname: host}, "auto", "e2e", id.InstanceID)
	if first.Node.Name != want.Name {
		t.Fatalf("node name %q, want %q (from %s)", first.Node.Name, want.Name, want.Source)
	}
	if out, _ := n.cli("status"); !strings.Contains(out, "instance "+id.InstanceID) {
		t.Fatalf("outpost status does not show the instance id:\n%s", out)
	}
	n.stop()
	n.start()
	if again := n.status().Node.Status.NodeInfo; again.InstanceID != info.InstanceID || again.PublicKey != info.PublicKey {
		t.Fatalf("after a restart: instance %q key %q, before %q %q", again.InstanceID, again.PublicKey, info.InstanceID, info.PublicKey)
	}
}
