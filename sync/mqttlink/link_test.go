package mqttlink

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/protocol"
)

func generation(t *testing.T, st *store.Store, src store.Source) int64 {
	t.Helper()
	g, err := st.Generations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return g[src]
}

func inboundPending(t *testing.T, st *store.Store) int {
	es, err := st.SessionEntries(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if strings.HasPrefix(e.Key, "i.") {
			n++
		}
	}
	return n
}

func latestReport(t *testing.T, cp *controlPlane, topic string) *protocol.NodeReport {
	for _, p := range slicesReverse(cp.got(topic)) {
		var r protocol.NodeReport
		if json.Unmarshal(p, &r) == nil && r.Kind == protocol.KindNodeReport {
			return &r
		}
	}
	return nil
}

func slicesReverse(in [][]byte) [][]byte {
	out := make([][]byte, len(in))
	for i := range in {
		out[len(in)-1-i] = in[i]
	}
	return out
}

// A document is stored with its generation, then acknowledged; the status
// reports the generation and the event says it was applied.
func TestApplyStoredAcknowledgedReported(t *testing.T) {
	b := startBroker(t, nil)
	st := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	l, _ := runLink(t, st, testConfig(b.url()), "n1")
	tp := l.Topics()
	cp := newControlPlane(t, b.url(), "cp", tp.Status(), tp.Events(), tp.Online())
	waitConnected(t, l)

	cp.publish(tp.NodeDesired(), true, testenv.NodeStateDoc(3, "web"))
	eventually(t, 30*time.Second, "generation 3 stored", func() bool { return generation(t, st, store.SourceNode) == 3 })
	eventually(t, 30*time.Second, "the document acknowledged", func() bool { return inboundPending(t, st) == 0 })
	eventually(t, 30*time.Second, "status with generation 3", func() bool {
		r := latestReport(t, cp, tp.Status())
		return r != nil && r.ObservedGenerations["remote:node"] == 3 && r.AgentVersion == "test"
	})
	eventually(t, 30*time.Second, "DocumentApplied event", func() bool {
		evs := cp.events(tp.Events())
		return len(evs) == 1 && evs[0].Reason == "DocumentApplied" && evs[0].Object == "source/remote:node" && evs[0].Node == "n1"
	})
	eventually(t, 30*time.Second, "online", func() bool {
		on := cp.got(tp.Online())
		return len(on) > 0 && strings.Contains(string(on[len(on)-1]), `"online":true`)
	})
	// With nothing changing, heartbeats follow and are small.
	eventually(t, 30*time.Second, "a heartbeat", func() bool { return l.State().Reports.Heartbeats > 0 })
	s := l.State()
	t.Logf("report %d bytes, heartbeat %d bytes", s.Reports.LastReportBytes, s.Reports.LastHeartbeatBytes)
	if s.Reports.LastHeartbeatBytes > 200 {
		t.Errorf("heartbeat of %d bytes, want a minimal payload", s.Reports.LastHeartbeatBytes)
	}
}

// One group document reaches both members, each into its own store.
func TestGroupDocumentReachesTwoNodes(t *testing.T) {
	b := startBroker(t, nil)
	dir := t.TempDir()
	st1 := openStore(t, filepath.Join(dir, "a.db"), "edge")
	st2 := openStore(t, filepath.Join(dir, "b.db"), "edge")
	l1, _ := runLink(t, st1, testConfig(b.url()), "a", "edge")
	l2, _ := runLink(t, st2, testConfig(b.url()), "b", "edge", "other")
	waitConnected(t, l1)
	waitConnected(t, l2)
	cp := newControlPlane(t, b.url(), "cp")
	cp.publish(l1.Topics().GroupDesired("edge"), true, testenv.NodeStateDoc(5, "app"))
	src, _ := store.GroupSource("edge")
	for _, st := range []*store.Store{st1, st2} {
		eventually(t, 30*time.Second, "group generation 5", func() bool { return generation(t, st, src) == 5 })
	}
	if g := generation(t, st1, store.SourceNode); g != 0 {
		t.Fatalf("node source generation %d, want none", g)
	}
}

// The broker crashes (SIGKILL) and comes back: the link reconnects with
// backoff, the events recorded meanwhile arrive once each and in order, and
// the desired state is still there.
func TestBrokerCrash(t *testing.T) {
	ctx := context.Background()
	b := startBroker(t, nil)
	st := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	l, _ := runLink(t, st, testConfig(b.url()), "n1")
	tp := l.Topics()
	cp := newControlPlane(t, b.url(), "cp", tp.Events())
	waitConnected(t, l)
	cp.publish(tp.NodeDesired(), true, testenv.NodeStateDoc(1, "web"))
	eventually(t, 30*time.Second, "generation 1", func() bool { return generation(t, st, store.SourceNode) == 1 })
	eventually(t, 30*time.Second, "first event", func() bool { return len(cp.events(tp.Events())) == 1 })
	b.waitSaved(cp) // the subscriber's session and the retained document are on disk

	b.kill()
	eventually(t, 30*time.Second, "link down", func() bool { return l.State().State != StateConnected })
	for i := range 20 {
		ev := api.Event{Type: api.EventNormal, Reason: "Offline", Message: fmt.Sprint(i), Object: "node", Time: time.Now()}
		if err := st.RecordEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "failed attempts, 20 queued and an error while the broker is down", func() bool {
		s := l.State()
		return s.Failures >= 2 && s.OutboxDepth == 20 && s.LastError != ""
	})
	b.start()
	eventually(t, 30*time.Second, "21 events", func() bool { return len(cp.events(tp.Events())) >= 21 })
	// One more event, sent after all of them: once it is there, a
	// duplicate of an earlier one (the outbox is sent in order) would be.
	if err := st.RecordEvent(ctx, api.Event{Type: api.EventNormal, Reason: "Marker", Message: "last", Object: "node", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the marker event", func() bool {
		evs := cp.events(tp.Events())
		return len(evs) > 0 && evs[len(evs)-1].Message == "last"
	})
	evs := cp.events(tp.Events())
	if len(evs) != 22 {
		t.Fatalf("%d events, want 21 and the marker (no duplicates)", len(evs))
	}
	evs = evs[:21]
	for i, ev := range evs[1:] {
		if ev.Message != fmt.Sprint(i) || ev.Seq != evs[0].Seq+uint64(i)+1 {
			t.Fatalf("event %d = %+v, want message %d in order", i+1, ev, i)
		}
	}
	eventually(t, 30*time.Second, "the outbox drained", func() bool { return l.State().OutboxDepth == 0 })
	if g := generation(t, st, store.SourceNode); g != 1 {
		t.Fatalf("generation %d after the crash, want 1", g)
	}
}

// A document published while the node is away is applied when it returns.
func TestDesiredChangedWhileDown(t *testing.T) {
	b := startBroker(t, nil)
	st := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	l, stop := runLink(t, st, testConfig(b.url()), "n1")
	waitConnected(t, l)
	cp := newControlPlane(t, b.url(), "cp")
	cp.publish(l.Topics().NodeDesired(), true, testenv.NodeStateDoc(1, "a"))
	eventually(t, 30*time.Second, "generation 1", func() bool { return generation(t, st, store.SourceNode) == 1 })
	stop()
	cp.publish(l.Topics().NodeDesired(), true, testenv.NodeStateDoc(2, "b"))
	l2, _ := runLink(t, st, testConfig(b.url()), "n1")
	waitConnected(t, l2)
	eventually(t, 30*time.Second, "generation 2", func() bool { return generation(t, st, store.SourceNode) == 2 })
}

// Documents that must not be accepted change nothing and say why.
func TestRejectedDocuments(t *testing.T) {
	b := startBroker(t, nil)
	st := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, forger, _ := ed25519.GenerateKey(nil)
	cfg := testConfig(b.url())
	cfg.TrustedKeys = map[string]string{"cp1": base64.StdEncoding.EncodeToString(pub)}
	l, _ := runLink(t, st, cfg, "n1")
	tp := l.Topics()
	cp := newControlPlane(t, b.url(), "cp", tp.Events())
	waitConnected(t, l)
	sign := func(k ed25519.PrivateKey, d []byte) []byte {
		s, err := protocol.Sign("cp1", k, tp.NodeDesired(), d)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	good := sign(priv, testenv.NodeStateDoc(5, "good"))
	cp.publish(tp.NodeDesired(), true, good)
	eventually(t, 30*time.Second, "generation 5", func() bool { return generation(t, st, store.SourceNode) == 5 })

	tests := []struct {
		name, reason string
		payload      []byte
		detail       string
	}{
		{"forged", "SignatureRejected", sign(forger, testenv.NodeStateDoc(6, "evil")), "does not verify"},
		{"unsigned", "SignatureRejected", testenv.NodeStateDoc(6, "evil"), "not a Signed envelope"},
		{"replayed older", "StaleGeneration", sign(priv, testenv.NodeStateDoc(4, "old")), "older than stored generation 5"},
		{"oversized", "DocumentTooLarge", make([]byte, protocol.MaxPayloadBytes+10), "more than"},
		{"malformed", "InvalidDocument", sign(priv, []byte(`{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":7,"pods":[{"metadata":{"name":"x"},"spec":{"containers":[{"name":"c"}]}}]}`)), "pods[x].spec.containers[0].image"},
		{"empty", "EmptyDocument", nil, "empty payload"},
	}
	seen := 1 // DocumentApplied
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp.publish(tp.NodeDesired(), false, tt.payload)
			eventually(t, 30*time.Second, tt.reason+" event", func() bool { return len(cp.events(tp.Events())) > seen })
			ev := cp.events(tp.Events())[seen]
			seen++
			if ev.Reason != tt.reason || ev.Type != api.EventWarning || ev.Object != "source/remote:node" ||
				!strings.Contains(ev.Message, tt.detail) || !strings.Contains(ev.Message, "dead-lettered") {
				t.Fatalf("event %+v, want %s mentioning %q", ev, tt.reason, tt.detail)
			}
			m, err := st.Desired(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if m.Generations[store.SourceNode] != 5 || len(m.Pods) != 1 || m.Pods[0].Pod.Metadata.Name != "good" {
				t.Fatalf("desired state changed: %+v", m)
			}
		})
	}
	eventually(t, 30*time.Second, "all acknowledged", func() bool { return inboundPending(t, st) == 0 })
	if dl := l.State().DeadLetters; len(dl) != len(tests) {
		t.Fatalf("%d dead letters, want %d", len(dl), len(tests))
	}
}

// A signed document names its topic: group edge's document republished on
// group core's topic, or on the node's own, verifies with a trusted key yet
// is rejected there, and the state of core and of the node stays as it was.
func TestReplayOnAnotherTopicRejected(t *testing.T) {
	b := startBroker(t, nil)
	st := openStore(t, filepath.Join(t.TempDir(), "state.db"), "edge", "core")
	pub, priv, _ := ed25519.GenerateKey(nil)
	cfg := testConfig(b.url())
	cfg.TrustedKeys = map[string]string{"cp1": base64.StdEncoding.EncodeToString(pub)}
	l, _ := runLink(t, st, cfg, "n1", "edge", "core")
	tp := l.Topics()
	cp := newControlPlane(t, b.url(), "cp", tp.Events())
	waitConnected(t, l)
	sign := func(topic string, d []byte) []byte {
		s, err := protocol.Sign("cp1", priv, topic, d)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	edge, _ := store.GroupSource("edge")
	core, _ := store.GroupSource("core")
	// The legitimate documents: edge's generation is above the others', so
	// only the target can stop its replay.
	edgeDoc := sign(tp.GroupDesired("edge"), testenv.NodeStateDoc(9, "edge-app"))
	cp.publish(tp.GroupDesired("edge"), true, edgeDoc)
	cp.publish(tp.GroupDesired("core"), true, sign(tp.GroupDesired("core"), testenv.NodeStateDoc(2, "core-app")))
	cp.publish(tp.NodeDesired(), true, sign(tp.NodeDesired(), testenv.NodeStateDoc(1, "own")))
	eventually(t, 30*time.Second, "three documents stored", func() bool { return len(cp.events(tp.Events())) == 3 })
	want := map[store.Source]int64{edge: 9, core: 2, store.SourceNode: 1}
	stored := func(t *testing.T) {
		t.Helper()
		m, err := st.Desired(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pods := map[string]string{}
		for _, p := range m.Pods {
			pods[string(p.Source)] = p.Pod.Metadata.Name
		}
		for src, g := range want {
			if m.Generations[src] != g {
				t.Fatalf("%s generation %d, want %d", src, m.Generations[src], g)
			}
		}
		if pods[string(edge)] != "edge-app" || pods[string(core)] != "core-app" || pods[string(store.SourceNode)] != "own" || len(m.Pods) != 3 {
			t.Fatalf("stored pods %v changed", pods)
		}
	}
	stored(t)

	tests := []struct {
		name, topic, object string
	}{
		{"group edge's document on group core", tp.GroupDesired("core"), "source/remote:group/core"},
		{"group edge's document on the node's topic", tp.NodeDesired(), "source/remote:node"},
	}
	seen := 3
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp.publish(tt.topic, true, edgeDoc) // what anyone who can write to the broker could do
			eventually(t, 30*time.Second, "a rejection event", func() bool { return len(cp.events(tp.Events())) > seen })
			evs := cp.events(tp.Events())
			ev := evs[seen]
			seen = len(evs)
			if ev.Reason != "SignatureRejected" || ev.Type != api.EventWarning || ev.Object != tt.object ||
				!strings.Contains(ev.Message, tp.GroupDesired("edge")) || !strings.Contains(ev.Message, tt.topic) ||
				!strings.Contains(ev.Message, "dead-lettered") {
				t.Fatalf("event %+v, want SignatureRejected on %s naming both topics", ev, tt.object)
			}
			stored(t)
		})
	}
	eventually(t, 30*time.Second, "all acknowledged", func() bool { return inboundPending(t, st) == 0 })
	if dl := l.State().DeadLetters; len(dl) != len(tests) {
		t.Fatalf("%d dead letters, want %d", len(dl), len(tests))
	}
}

// Websockets carry the same protocol.
func TestWebsocket(t *testing.T) {
	b := startBroker(t, nil)
	st := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	l, _ := runLink(t, st, testConfig(fmt.Sprintf("ws://127.0.0.1:%d", b.ws)), "n1")
	waitConnected(t, l)
	cp := newControlPlane(t, b.url(), "cp")
	cp.publish(l.Topics().NodeDesired(), true, testenv.NodeStateDoc(2, "a"))
	eventually(t, 30*time.Second, "generation 2", func() bool { return generation(t, st, store.SourceNode) == 2 })
}

// A group dropped from the node's configuration: the subscription the old
// configuration left in the broker's session (clean session is off) is
// removed at its first message, so the group's messages stop coming.
func TestLeftGroupUnsubscribed(t *testing.T) {
	b := startBroker(t, nil)
	st := openStore(t, filepath.Join(t.TempDir(), "state.db"), "edge")
	cp := newControlPlane(t, b.url(), "cp")
	old, stop := runLink(t, st, testConfig(b.url()), "n1", "edge", "old")
	waitConnected(t, old)
	stop()

	l, stop := runLink(t, st, testConfig(b.url()), "n1", "edge")
	waitConnected(t, l)
	oldTopic := l.Topics().GroupDesired("old")
	cp.publish(oldTopic, true, testenv.NodeStateDoc(1, "stale"))
	eventually(t, 30*time.Second, "the old group's document ignored", func() bool { return l.State().Ignored == 1 })
	eventually(t, 30*time.Second, "unsubscribed", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.unsubscribed[oldTopic]
	})
	stop()

	// While the node is away, the old group publishes again: a subscription
	// still in the session would queue it for the node.
	cp.publish(oldTopic, false, testenv.NodeStateDoc(2, "stale"))
	l, _ = runLink(t, st, testConfig(b.url()), "n1", "edge")
	waitConnected(t, l)
	cp.publish(l.Topics().GroupDesired("edge"), true, testenv.NodeStateDoc(4, "app"))
	src, _ := store.GroupSource("edge")
	// The broker sends a session's queued messages on connection, before
	// anything published after it, and the link takes messages in arrival
	// order: once generation 4 is stored, an old group's message would have
	// been counted.
	eventually(t, 30*time.Second, "edge generation 4", func() bool { return generation(t, st, src) == 4 })
	if n := l.State().Ignored; n != 0 {
		t.Fatalf("%d messages of the old group still arrived", n)
	}
	old2, _ := store.GroupSource("old")
	if g := generation(t, st, old2); g != 0 {
		t.Fatalf("the old group's document was stored (generation %d)", g)
	}
}
