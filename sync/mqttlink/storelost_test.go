package mqttlink

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"

	"github.com/outpost-edge/outpost/store"
)

// TestStoreLostRefetchesRetained: the node's state file is lost (moved aside
// as corrupt) and the agent starts on an empty one with the same client id,
// so the broker still has its session. The link subscribes again and takes
// the retained node and group documents again (an empty store's generations
// block nothing); a pod found running keeps its uid.
func TestStoreLostRefetchesRetained(t *testing.T) {
	ctx := context.Background()
	b := startBroker(t, nil)
	dir := t.TempDir()
	edge, _ := store.GroupSource("edge")
	st1 := openStore(t, filepath.Join(dir, "state.db"), "edge")
	l1, stop1 := runLink(t, st1, testConfig(b.url()), "n1", "edge")
	waitConnected(t, l1)
	cp := newControlPlane(t, b.url(), "cp")
	cp.publish(l1.Topics().NodeDesired(), true, testenv.NodeStateDoc(4, "web"))
	cp.publish(l1.Topics().GroupDesired("edge"), true, testenv.NodeStateDoc(7, "agent"))
	eventually(t, 30*time.Second, "both documents", func() bool {
		return generation(t, st1, store.SourceNode) == 4 && generation(t, st1, edge) == 7
	})
	m, err := st1.Desired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]string{}
	for _, p := range m.Pods {
		uids[p.Pod.Metadata.Name] = p.UID
	}
	stop1()
	_ = st1.Close()

	st2 := openStore(t, filepath.Join(dir, "state.db.new"), "edge")
	err = st2.Reclaim(ctx, []store.ReclaimedPod{
		{Source: store.SourceNode, Name: "web", UID: uids["web"]},
		{Source: edge, Name: "agent", UID: uids["agent"]},
	})
	if err != nil {
		t.Fatal(err)
	}
	l2, _ := runLink(t, st2, testConfig(b.url()), "n1", "edge")
	waitConnected(t, l2)
	eventually(t, 30*time.Second, "both documents again", func() bool {
		return generation(t, st2, store.SourceNode) == 4 && generation(t, st2, edge) == 7
	})
	m, err = st2.Desired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Pods {
		if p.UID != uids[p.Pod.Metadata.Name] {
			t.Errorf("pod %s has uid %s, the running one had %s", p.Pod.Metadata.Name, p.UID, uids[p.Pod.Metadata.Name])
		}
	}
	if len(m.Pods) != 2 || len(m.Reclaimed) != 0 {
		t.Errorf("desired %d pods, %d still reclaimed; want 2 and 0", len(m.Pods), len(m.Reclaimed))
	}
}
