package desired

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/internal/testenv"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// resetDoc is a generation reset from generation from.
func resetDoc(gen, from int64, pods ...string) []byte {
	return []byte(strings.Replace(string(testenv.NodeStateDoc(gen, pods...)), `"generation":`, fmt.Sprintf(`"resetFrom":%d,"generation":`, from), 1))
}

func openStore(t *testing.T) *store.Store {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestHandle(t *testing.T) {
	ctx := context.Background()
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, forger, _ := ed25519.GenerateKey(nil)
	const topic = "outpost/v1/nodes/n1/desired"
	signedFor := func(k ed25519.PrivateKey, target string, d []byte) []byte {
		b, err := protocol.Sign("k1", k, target, d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	signed := func(k ed25519.PrivateKey, d []byte) []byte { return signedFor(k, topic, d) }
	// Each step runs on the same store, in order.
	steps := []struct {
		name    string
		keys    bool
		payload []byte
		reason  string // event reason, "" for none
		gen     int64  // stored generation after the step
		pods    string
	}{
		{"first document", false, testenv.NodeStateDoc(2, "a"), ReasonApplied, 2, "a"},
		{"the same document again is a no-op", false, testenv.NodeStateDoc(2, "a"), "", 2, "a"},
		{"the same generation with other pods is stale", false, testenv.NodeStateDoc(2, "b"), ReasonStale, 2, "a"},
		{"newer", false, testenv.NodeStateDoc(3, "b"), ReasonApplied, 3, "b"},
		{"replayed older", false, testenv.NodeStateDoc(1, "old"), ReasonStale, 3, "b"},
		{"replayed older again is silent", false, testenv.NodeStateDoc(1, "old"), "", 3, "b"},
		{"empty", false, nil, "EmptyDocument", 3, "b"},
		{"malformed", false, []byte("{"), "InvalidDocument", 3, "b"},
		{"invalid spec", false, []byte(`{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":9,"pods":[{"metadata":{"name":"x"},"spec":{"containers":[{"name":"c"}]}}]}`), "InvalidDocument", 3, "b"},
		{"oversized", false, make([]byte, protocol.MaxPayloadBytes+1), "DocumentTooLarge", 3, "b"},
		{"unsigned with keys", true, testenv.NodeStateDoc(4, "c"), "SignatureRejected", 3, "b"},
		{"forged", true, signed(forger, testenv.NodeStateDoc(4, "c")), "SignatureRejected", 3, "b"},
		{"signed", true, signed(priv, testenv.NodeStateDoc(4, "c")), ReasonApplied, 4, "c"},
		{"signed for another node", true, signedFor(priv, "outpost/v1/nodes/n2/desired", testenv.NodeStateDoc(5, "d")), "SignatureRejected", 4, "c"},
		{"signed for a group", true, signedFor(priv, "outpost/v1/groups/edge/desired", testenv.NodeStateDoc(5, "d")), "SignatureRejected", 4, "c"},
		{"signed for another node, without keys", false, signedFor(priv, "outpost/v1/nodes/n2/desired", testenv.NodeStateDoc(5, "d")), "SignatureRejected", 4, "c"},
		{"reset without keys", false, signed(priv, resetDoc(1, 4, "r")), "SignatureRejected", 4, "c"},
		{"signed reset from another generation", true, signed(priv, resetDoc(1, 3, "r")), ReasonStale, 4, "c"},
		{"signed reset", true, signed(priv, resetDoc(1, 4, "r")), ReasonApplied, 1, "r"},
		{"after the reset", true, signed(priv, testenv.NodeStateDoc(2, "z")), ReasonApplied, 2, "z"},
		{"replayed reset", true, signed(priv, resetDoc(1, 4, "r")), ReasonStale, 2, "z"},
		{"above the range", true, signed(priv, testenv.NodeStateDoc(1<<53, "z")), "InvalidDocument", 2, "z"},
	}
	st := openStore(t)
	plain, trusting := New(st, Options{}), New(st, Options{Keys: protocol.Keys{"k1": pub}})
	var seen int
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := plain
			if s.keys {
				r = trusting
			}
			if err := r.Handle(ctx, store.SourceNode, topic, s.payload); err != nil {
				t.Fatalf("Handle: %v (want nil: acknowledge)", err)
			}
			evs, err := st.RecentEvents(ctx, "source/remote:node", 0)
			if err != nil {
				t.Fatal(err)
			}
			newEvs := evs[seen:]
			seen = len(evs)
			switch {
			case s.reason == "" && len(newEvs) != 0:
				t.Fatalf("events %+v, want none", newEvs)
			case s.reason != "" && (len(newEvs) != 1 || newEvs[0].Reason != s.reason):
				t.Fatalf("events %+v, want one %s", newEvs, s.reason)
			}
			m, err := st.Desired(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range m.Pods {
				names = append(names, p.Pod.Metadata.Name)
			}
			if m.Generations[store.SourceNode] != s.gen || strings.Join(names, ",") != s.pods {
				t.Fatalf("stored generation %d pods %v, want %d %s", m.Generations[store.SourceNode], names, s.gen, s.pods)
			}
			if s.reason != "" && s.reason != ReasonApplied {
				if !strings.Contains(newEvs[0].Message, "dead-lettered") || newEvs[0].Type != api.EventWarning {
					t.Fatalf("rejection event %+v does not say it was dead-lettered", newEvs[0])
				}
			}
		})
	}
	if dl := plain.DeadLetters(); len(dl) != 8 || dl[1].Count != 2 || dl[1].Reason != ReasonStale {
		t.Fatalf("dead letters = %+v, want the stale document seen twice", dl)
	}
}

func TestInvalidSpecEventNamesField(t *testing.T) {
	st := openStore(t)
	r := New(st, Options{})
	_ = r.Handle(context.Background(), store.SourceNode, "outpost/v1/nodes/n1/desired", []byte(`{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":9,"pods":[{"metadata":{"name":"x"},"spec":{"containers":[{"name":"c"}]}}]}`))
	evs, _ := st.RecentEvents(context.Background(), "", 0)
	if len(evs) != 1 || !strings.Contains(evs[0].Message, "pods[x].spec.containers[0].image") {
		t.Fatalf("events %+v, want the field path", evs)
	}
}

type failingStore struct{}

func (failingStore) Apply(context.Context, store.Source, *api.NodeState) (store.ApplyResult, error) {
	return store.ApplyResult{}, errors.New("disk on fire")
}
func (failingStore) RecordEvent(context.Context, api.Event) error { return nil }

func TestStoreFailureIsNotAcknowledged(t *testing.T) {
	r := New(failingStore{}, Options{Retry: 1})
	if err := r.Handle(context.Background(), store.SourceNode, "outpost/v1/nodes/n1/desired", testenv.NodeStateDoc(1, "a")); !errors.Is(err, ErrNotStored) {
		t.Fatalf("Handle = %v, want ErrNotStored", err)
	}
	if len(r.DeadLetters()) != 0 {
		t.Fatal("a store failure must not dead-letter the document")
	}
}

// TestRejectionKeepsHashWhenCut: a document with so many errors that the
// event message is cut still names its sha256, by which a control plane
// (outpostctl apply --wait) matches the rejection of what it published.
func TestRejectionKeepsHashWhenCut(t *testing.T) {
	st := openStore(t)
	r := New(st, Options{})
	var pods []string
	for i := range 100 {
		pods = append(pods, fmt.Sprintf(`{"metadata":{"name":"p%d"},"spec":{"containers":[{"name":"c"}]}}`, i))
	}
	payload := fmt.Appendf(nil, `{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":9,"pods":[%s]}`, strings.Join(pods, ","))
	_ = r.Handle(context.Background(), store.SourceNode, "outpost/v1/nodes/n1/desired", payload)
	evs, _ := st.RecentEvents(context.Background(), "", 0)
	sum := sha256.Sum256(payload)
	if len(evs) != 1 || !strings.Contains(evs[0].Message, "sha256:"+hex.EncodeToString(sum[:])[:16]) {
		t.Fatalf("events %+v, want the document's sha256 in the message", evs)
	}
	if !strings.HasSuffix(evs[0].Message, "...") {
		t.Fatalf("message of %d bytes was not cut: the test does not test the cut", len(evs[0].Message))
	}
}
