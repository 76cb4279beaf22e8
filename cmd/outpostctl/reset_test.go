package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/mqtttest"
)

// A node stuck at the end of the generation range: apply says to reset,
// apply --reset (signed) frees it, and applies go on from there. This is
// the procedure docs/protocol.md gives operators.
func TestResetStuckNode(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	key := filepath.Join(t.TempDir(), "cp.key")
	code, out, _ := runCtl(t, "keygen", "-o", key)
	m := regexp.MustCompile(`(?m)^    (ed25519-[0-9a-f]{16}): (\S+)$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatal("keygen failed")
	}
	cfg := mqtttest.FastConfig(b.URL())
	cfg.TrustedKeys = map[string]string{m[1]: m[2]}
	n := mqtttest.StartNode(t, cfg, "n1", mqtttest.NodeOptions{})
	mqtttest.Eventually(t, 30*time.Second, "node connected", n.Connected)
	stuck := &api.NodeState{TypeMeta: api.TypeMeta{APIVersion: api.GroupVersion, Kind: api.KindNodeState}, Generation: api.MaxGeneration}
	if _, err := n.Store.Apply(context.Background(), store.SourceNode, stuck); err != nil {
		t.Fatal(err)
	}
	mqtttest.Eventually(t, 30*time.Second, "get nodes shows the stuck generation", func() bool {
		_, out, _ := runCtl(t, "get", "nodes", "--broker", b.URL())
		c := columns(out, "n1")
		return len(c) == 7 && c[3] == "node=9007199254740991"
	})
	dir := writeManifests(t, "web")

	code, _, errs := runCtl(t, "apply", "-f", dir, "--node", "n1", "--key", key, "--broker", b.URL())
	if code == 0 || !strings.Contains(errs, "--reset") {
		t.Fatalf("apply past the range: exit %d, want an error naming --reset", code)
	}
	code, out, _ = runCtl(t, "apply", "-f", dir, "--node", "n1", "--key", key, "--reset", "--broker", b.URL(), "--wait", "--timeout", "20s")
	if code != 0 || !strings.Contains(out, "a reset from generation 9007199254740991") || n.Generation(t, store.SourceNode) != 1 {
		t.Fatalf("reset: exit %d, generation %d", code, n.Generation(t, store.SourceNode))
	}
	code, out, _ = runCtl(t, "apply", "-f", writeManifests(t, "web", "db"), "--node", "n1", "--key", key, "--broker", b.URL(), "--wait", "--timeout", "20s")
	if code != 0 || !strings.Contains(out, "generation 2 published") || n.Generation(t, store.SourceNode) != 2 {
		t.Fatalf("apply after the reset: exit %d, generation %d", code, n.Generation(t, store.SourceNode))
	}
}
