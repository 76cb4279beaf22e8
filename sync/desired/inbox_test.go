package desired

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/outpost-edge/outpost/internal/testenv"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
)

// msg is a received message that records its acknowledgement.
type msg struct {
	id      string
	payload []byte
	acks    *[]string
}

func (m msg) Topic() string   { return "outpost/v1/nodes/n1/desired" }
func (m msg) Payload() []byte { return m.payload }
func (m msg) Ack()            { *m.acks = append(*m.acks, m.id) }

// flakyStore fails while down is set, then is the real store.
type flakyStore struct {
	*store.Store
	down bool
}

func (f *flakyStore) Apply(ctx context.Context, src store.Source, doc *api.NodeState) (store.ApplyResult, error) {
	if f.down {
		return store.ApplyResult{}, errors.New("no space left on device")
	}
	return f.Store.Apply(ctx, src, doc)
}

func TestSettle(t *testing.T) {
	group, _ := store.GroupSource("g")
	type in struct {
		id      string
		src     store.Source
		payload []byte
	}
	tests := []struct {
		name    string
		msgs    []in
		applied int // DocumentApplied events
		gen     int64
		pods    []string
	}{
		{"a burst applies the newest", []in{{"1", store.SourceNode, testenv.NodeStateDoc(1, "a")}, {"2", store.SourceNode, testenv.NodeStateDoc(2, "b")}, {"3", store.SourceNode, testenv.NodeStateDoc(3, "c")}},
			1, 3, []string{"c"}},
		{"a rejected newest falls back to the one before", []in{{"1", store.SourceNode, testenv.NodeStateDoc(1, "a")}, {"2", store.SourceNode, testenv.NodeStateDoc(2, "b")}, {"3", store.SourceNode, []byte("{")}},
			1, 2, []string{"b"}},
		// The newest arrival wins even with a lower generation: it is what
		// the broker retains, what a node connecting later gets alone.
		{"the newest arrival wins", []in{{"1", store.SourceNode, testenv.NodeStateDoc(5, "a")}, {"2", store.SourceNode, testenv.NodeStateDoc(4, "b")}},
			1, 4, []string{"b"}},
		{"sources settle apart, acks in arrival order", []in{{"1", store.SourceNode, testenv.NodeStateDoc(1, "a")}, {"2", group, testenv.NodeStateDoc(7, "g")}, {"3", store.SourceNode, testenv.NodeStateDoc(2, "b")}},
			2, 2, []string{"b", "g"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			r := New(st, Options{})
			var acks []string
			var ib Inbox
			var want []string
			for _, m := range tt.msgs {
				ib.Put(m.src, msg{m.id, m.payload, &acks})
				want = append(want, m.id)
			}
			for ib.Len() > 0 {
				if err := r.Settle(t.Context(), &ib); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(acks, want) {
				t.Errorf("acks %v, want %v", acks, want)
			}
			evs, _ := st.RecentEvents(t.Context(), "", 0)
			applied := 0
			for _, ev := range evs {
				if ev.Reason == ReasonApplied {
					applied++
				}
			}
			m, _ := st.Desired(t.Context())
			var pods []string
			for _, p := range m.Pods {
				pods = append(pods, p.Pod.Metadata.Name)
			}
			if applied != tt.applied || m.Generations[store.SourceNode] != tt.gen || !slices.Equal(pods, tt.pods) {
				t.Errorf("applied %d, generation %d, pods %v; want %d, %d, %v", applied, m.Generations[store.SourceNode], pods, tt.applied, tt.gen, tt.pods)
			}
		})
	}
}

// A message skipped (a topic the node does not read) is acknowledged in its
// turn: at once when nothing waits, else after the messages before it.
func TestSkipKeepsAckOrder(t *testing.T) {
	r := New(openStore(t), Options{})
	var acks []string
	var ib Inbox
	ib.Skip(msg{"0", nil, &acks})
	ib.Put(store.SourceNode, msg{"1", testenv.NodeStateDoc(1, "a"), &acks})
	ib.Skip(msg{"2", nil, &acks})
	if !slices.Equal(acks, []string{"0"}) {
		t.Fatalf("acks %v before settling, want [0]", acks)
	}
	if err := r.Settle(t.Context(), &ib); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acks, []string{"0", "1", "2"}) || ib.Len() != 0 {
		t.Fatalf("acks %v, %d held", acks, ib.Len())
	}
}

// A store failure settles nothing and acknowledges nothing; the same inbox
// settles once the store works again.
func TestSettleKeepsWhatWasNotStored(t *testing.T) {
	fs := &flakyStore{Store: openStore(t), down: true}
	r := New(fs, Options{Retry: 1})
	var acks []string
	var ib Inbox
	ib.Put(store.SourceNode, msg{"1", testenv.NodeStateDoc(1, "a"), &acks})
	ib.Put(store.SourceNode, msg{"2", []byte("{"), &acks})
	if err := r.Settle(t.Context(), &ib); !errors.Is(err, ErrNotStored) {
		t.Fatalf("Settle = %v, want ErrNotStored", err)
	}
	if len(acks) != 0 || ib.Len() != 2 {
		t.Fatalf("acks %v, %d held; want none acknowledged, 2 held", acks, ib.Len())
	}
	fs.down = false
	if err := r.Settle(t.Context(), &ib); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acks, []string{"1", "2"}) || ib.Len() != 0 {
		t.Fatalf("acks %v, %d held", acks, ib.Len())
	}
	if g, _ := fs.Generations(t.Context()); g[store.SourceNode] != 1 {
		t.Fatalf("generation %d, want 1", g[store.SourceNode])
	}
}
