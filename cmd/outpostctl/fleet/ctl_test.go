package fleet

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/mqttlink"
	"github.com/outpost-edge/outpost/sync/mqtttest"
	"github.com/outpost-edge/outpost/sync/protocol"
)

func pod(name string) string {
	return fmt.Sprintf("apiVersion: outpost.dev/v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  containers: [{name: c, image: 'busybox:1.36'}]\n", name)
}

const svc = "apiVersion: outpost.dev/v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n"

func state(t *testing.T, pods ...string) *api.NodeState {
	t.Helper()
	var ms []Manifest
	for _, p := range pods {
		ms = append(ms, Manifest{Name: p + ".yaml", Data: []byte(pod(p))})
	}
	ns, err := Assemble(ms)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func TestAssemble(t *testing.T) {
	nodeState := `{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":7,"pods":[{"metadata":{"name":"ns"},"spec":{"containers":[{"name":"c","image":"busybox:1"}]}}]}`
	tests := []struct {
		name      string
		files     []Manifest
		pods, svc string // names, comma-separated
		err       string // part of the error; "" for none
	}{
		{"pods and a service across files", []Manifest{{"a.yaml", []byte(pod("a") + "---\n" + svc)}, {"b.yaml", []byte(pod("b"))}}, "a,b", "web", ""},
		{"a NodeState file keeps its pods, not its generation", []Manifest{{"ns.json", []byte(nodeState)}, {"b.yaml", []byte(pod("b"))}}, "ns,b", "", ""},
		{"duplicate pod across files", []Manifest{{"a.yaml", []byte(pod("a"))}, {"again.yaml", []byte(pod("a"))}}, "", "", "again.yaml: pods[a]: also defined in a.yaml"},
		{"invalid file named", []Manifest{{"ok.yaml", []byte(pod("a"))}, {"bad.yaml", []byte("kind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: c}]}\n")}}, "", "", "bad.yaml: "},
		{"no files", nil, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, err := Assemble(tt.files)
			if tt.err != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var pods, svcs []string
			for _, p := range ns.Pods {
				pods = append(pods, p.Metadata.Name)
			}
			for _, s := range ns.Services {
				svcs = append(svcs, s.Metadata.Name)
			}
			if strings.Join(pods, ",") != tt.pods || strings.Join(svcs, ",") != tt.svc || ns.Generation != 0 {
				t.Fatalf("pods %v services %v generation %d, want %s / %s / 0", pods, svcs, ns.Generation, tt.pods, tt.svc)
			}
		})
	}
}

func TestEncodeAndParseDoc(t *testing.T) {
	s, err := GenerateKey("")
	if err != nil {
		t.Fatal(err)
	}
	ns := state(t, "a")
	topic := Target{Group: "edge"}.DesiredTopic(protocol.DefaultPrefix)
	other := Target{Group: "core"}.DesiredTopic(protocol.DefaultPrefix)
	plain, err := Encode(topic, ns, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := Encode(topic, ns, 4, s)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := protocol.ParseKeys(map[string]string{s.KeyID: s.PublicKey()})
	if d, err := protocol.Decode(signed, keys, topic); err != nil || !d.Verified || d.State.Generation != 4 {
		t.Fatalf("signed payload does not verify on a node: %v", err)
	}
	if _, err := protocol.Decode(signed, keys, other); !errors.Is(err, protocol.ErrSignature) {
		t.Fatalf("signed payload on another topic: %v, want ErrSignature", err)
	}
	tests := []struct {
		name    string
		topic   string
		payload []byte
		gen     int64
		keyID   string
		decoded bool
	}{
		{"plain", topic, plain, 3, "", true},
		{"plain on another topic", other, plain, 3, "", true},
		{"signed", topic, signed, 4, s.KeyID, true},
		{"signed for another topic keeps its generation", other, signed, 4, s.KeyID, false},
		{"invalid spec keeps its generation", topic, []byte(`{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":9,"pods":[{"metadata":{"name":"x"}}]}`), 9, "", false},
		{"garbage", topic, []byte("{"), 0, "", false},
		{"empty", topic, nil, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ParseDoc(tt.topic, tt.payload)
			if d.Generation != tt.gen || d.KeyID != tt.keyID || (d.State != nil) != tt.decoded || d.Present != (len(tt.payload) > 0) {
				t.Fatalf("ParseDoc = gen %d key %q decoded %v present %v (%v)", d.Generation, d.KeyID, d.State != nil, d.Present, d.Err)
			}
		})
	}
	if _, err := Encode(topic, &api.NodeState{Pods: []api.Pod{{}}}, 1, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Encode of an invalid state = %v, want ErrInvalid", err)
	}
	if _, err := Encode("", ns, 1, s); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Encode signed for no topic = %v, want ErrInvalid", err)
	}
}

func TestKeyFileRoundTrip(t *testing.T) {
	s, _ := GenerateKey("")
	path := filepath.Join(t.TempDir(), "cp.key")
	if err := WriteKey(path, s.Key); err != nil {
		t.Fatal(err)
	}
	if err := WriteKey(path, s.Key); err == nil {
		t.Fatal("WriteKey overwrote an existing key")
	}
	got, err := LoadSigner(path, "")
	if err != nil || got.KeyID != s.KeyID || !got.Key.Equal(s.Key) {
		t.Fatalf("LoadSigner = %+v, %v", got, err)
	}
	if _, err := LoadSigner(filepath.Join(t.TempDir(), "none"), ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("missing key: %v", err)
	}
}

func dial(t *testing.T, url string) *Client {
	t.Helper()
	cfg := mqttlink.DefaultConfig()
	cfg.Brokers = []string{url}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startN1 starts a broker and node n1 on it (trusting signer's key, when
// given), waits until the node is connected and dials a client to the
// broker.
func startN1(t *testing.T, opts mqtttest.NodeOptions, signer *Signer) (*mqtttest.Node, *Client) {
	t.Helper()
	b := mqtttest.Start(t, mqtttest.Options{})
	cfg := mqtttest.FastConfig(b.URL())
	if signer != nil {
		cfg.TrustedKeys = map[string]string{signer.KeyID: signer.PublicKey()}
	}
	n := mqtttest.StartNode(t, cfg, "n1", opts)
	mqtttest.Eventually(t, 30*time.Second, "node connected", n.Connected)
	return n, dial(t, b.URL())
}

// waitReported waits until n1's report says it observed generation gen of
// source.
func waitReported(t *testing.T, ctx context.Context, c *Client, source string, gen int64) {
	t.Helper()
	mqtttest.Eventually(t, 30*time.Second, fmt.Sprintf("n1's report of generation %d of %s", gen, source), func() bool {
		f, err := c.Fleet(ctx, "n1")
		return err == nil && f.Nodes["n1"] != nil && f.Nodes["n1"].Report != nil &&
			f.Nodes["n1"].Report.ObservedGenerations[source] == gen
	})
}

// Apply, the node stores it, its report says so and Wait returns; the same
// content again is no new generation.
func TestApplyObservedByNode(t *testing.T) {
	n, c := startN1(t, mqtttest.NodeOptions{}, nil)
	ctx := withTimeout(t, time.Minute)
	tgt := Target{Node: "n1"}

	for i, tc := range []struct {
		pods      []string
		gen       int64
		unchanged bool
	}{{[]string{"a"}, 1, false}, {[]string{"a"}, 1, true}, {[]string{"a", "b"}, 2, false}} {
		w, err := c.Watch(ctx, tgt, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Apply(ctx, tgt, state(t, tc.pods...), ApplyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Generation != tc.gen || res.Unchanged != tc.unchanged {
			t.Fatalf("apply %d = generation %d unchanged %v, want %d %v", i, res.Generation, res.Unchanged, tc.gen, tc.unchanged)
		}
		p, err := w.WaitResult(ctx, res)
		w.Close()
		if err != nil || len(p.Observed) != 1 {
			t.Fatalf("wait: %+v, %v", p, err)
		}
		if g := n.Generation(t, store.SourceNode); g != tc.gen {
			t.Fatalf("stored generation %d, want %d", g, tc.gen)
		}
	}
	f, err := c.Fleet(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	v := f.Nodes["n1"]
	if v == nil || !v.IsOnline() || v.Report == nil || v.Report.ObservedGenerations["remote:node"] != 2 || f.Desired("n1")["remote:node"] != 2 {
		t.Fatalf("fleet view of n1: %+v", v)
	}
}

// A group document reaches its members; Wait finds them by their reports
// once they have one, and is told their names for the first.
func TestGroupApplyAndDiscovery(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	cfg := mqtttest.FastConfig(b.URL())
	var nodes []*mqtttest.Node
	for _, name := range []string{"a", "b", "c"} {
		groups := []string{"edge"}
		if name == "c" {
			groups = []string{"other"}
		}
		nodes = append(nodes, mqtttest.StartNode(t, cfg, name, mqtttest.NodeOptions{Groups: groups}))
	}
	for _, n := range nodes {
		mqtttest.Eventually(t, 30*time.Second, "connected", n.Connected)
	}
	c := dial(t, b.URL())
	ctx := withTimeout(t, time.Minute)
	tgt := Target{Group: "edge"}
	w, err := c.Watch(ctx, tgt, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Apply(ctx, tgt, state(t, "x"), ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := w.WaitResult(ctx, res); err != nil || strings.Join(p.Observed, ",") != "a,b" {
		t.Fatalf("first wait: %+v %v", p, err)
	}
	w.Close()

	w, err = c.Watch(ctx, tgt, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if m := strings.Join(w.Members(), ","); m != "a,b" {
		t.Fatalf("discovered members %q, want a,b", m)
	}
	res, err = c.Apply(ctx, tgt, state(t, "y"), ApplyOptions{})
	if err != nil || res.Generation != 2 {
		t.Fatalf("second apply: %+v %v", res, err)
	}
	if p, err := w.WaitResult(ctx, res); err != nil || len(p.Observed) != 2 {
		t.Fatalf("second wait: %+v %v", p, err)
	}
	edge, _ := store.GroupSource("edge")
	if g := nodes[2].Generation(t, edge); g != 0 {
		t.Fatalf("node c outside the group stored generation %d", g)
	}
}

// A node with trusted keys takes a signed document and rejects an unsigned
// one; Wait reports the rejection at once, with the node's reason.
func TestSignedAndRejected(t *testing.T) {
	s, _ := GenerateKey("cp-test")
	n, c := startN1(t, mqtttest.NodeOptions{}, s)
	ctx := withTimeout(t, time.Minute)
	tgt := Target{Node: "n1"}
	w, err := c.Watch(ctx, tgt, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	res, err := c.Apply(ctx, tgt, state(t, "a"), ApplyOptions{Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Wait(ctx, res.Generation, res.SHA256); err != nil {
		t.Fatalf("signed: %v", err)
	}
	res, err = c.Apply(ctx, tgt, state(t, "b"), ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.Wait(ctx, res.Generation, res.SHA256)
	if !errors.Is(err, ErrRejected) || len(p.Rejected) != 1 || p.Rejected[0].Reason != protocol.ErrSignature.Error() {
		t.Fatalf("unsigned: %+v, %v; want a SignatureRejected rejection", p, err)
	}
	if g := n.Generation(t, store.SourceNode); g != 1 {
		t.Fatalf("stored generation %d, want 1", g)
	}
}

// Events arrive as the node publishes them, in order, once each.
func TestEvents(t *testing.T) {
	n, c := startN1(t, mqtttest.NodeOptions{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := make(chan protocol.Event, 100)
	done := make(chan error, 1)
	go func() { done <- c.Events(ctx, "", func(ev protocol.Event) { got <- ev }) }()
	// Events are not retained: record them until three came through.
	var evs []protocol.Event
	for i := 0; len(evs) < 3; i++ {
		ev := api.Event{Type: api.EventNormal, Reason: "Test", Message: fmt.Sprint(i), Object: "node", Time: time.Now()}
		if err := n.Store.RecordEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-got:
			evs = append(evs, ev)
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("events did not arrive")
		}
	}
	for i, ev := range evs {
		if ev.Node != "n1" || ev.Reason != "Test" || (i > 0 && ev.Seq != evs[i-1].Seq+1) {
			t.Fatalf("event %d = %+v, want n1's next event", i, ev)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Events: %v", err)
	}
}

// The retained document is cleared (or the broker lost it): the next apply
// continues from the generation the node reports instead of starting at 1,
// which the node would reject as stale while --wait said it was observed.
func TestApplyAfterRetainedDocumentLost(t *testing.T) {
	n, c := startN1(t, mqtttest.NodeOptions{}, nil)
	ctx := withTimeout(t, time.Minute)
	tgt := Target{Node: "n1"}
	for _, pods := range [][]string{{"a"}, {"a", "b"}, {"c"}} {
		res, err := c.Apply(ctx, tgt, state(t, pods...), ApplyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mqtttest.Eventually(t, 30*time.Second, "stored", func() bool { return n.Generation(t, store.SourceNode) == res.Generation })
	}
	// Clear the retained document, as an operator's cleanup would.
	if err := c.wait(ctx, c.c.Publish(tgt.DesiredTopic(c.Prefix()), 1, true, []byte{})); err != nil {
		t.Fatal(err)
	}
	waitReported(t, ctx, c, tgt.Source(), 3)
	w, err := c.Watch(ctx, tgt, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	res, err := c.Apply(ctx, tgt, state(t, "d"), ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Generation != 4 {
		t.Fatalf("generation %d after the retained document was lost, want 4 (above the node's 3)", res.Generation)
	}
	if p, err := w.Wait(ctx, res.Generation, res.SHA256); err != nil || len(p.Observed) != 1 {
		t.Fatalf("wait: %+v, %v", p, err)
	}
	if g := n.Generation(t, store.SourceNode); g != 4 {
		t.Fatalf("stored generation %d, want 4", g)
	}
}

func TestTopicMatches(t *testing.T) {
	for _, tt := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/#", "a/b/c", true},
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a/b/d", false},
		{"a/b/c", "a/b", false},
	} {
		if got := topicMatches(tt.filter, tt.topic); got != tt.want {
			t.Errorf("topicMatches(%q, %q) = %v", tt.filter, tt.topic, got)
		}
	}
}
