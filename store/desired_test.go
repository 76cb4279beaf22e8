package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/outpost-edge/outpost/api"
	bolt "go.etcd.io/bbolt"
)

func TestApplyGenerations(t *testing.T) {
	tests := []struct {
		name        string
		doc         *api.NodeState
		wantErr     error
		wantMsg     string
		wantChanged bool
		wantPods    []string
		wantGen     int64
	}{
		{name: "lower is stale", doc: testDoc(4, "x"), wantErr: ErrStale, wantMsg: "generation 4 is older than stored generation 5",
			wantPods: []string{"a", "b"}, wantGen: 5},
		{name: "equal is a no-op", doc: testDoc(5, "b", "a"), wantPods: []string{"a", "b"}, wantGen: 5},
		{name: "equal with other pods is stale", doc: testDoc(5, "x"), wantErr: ErrStale, wantMsg: "generation 5 is stored already, with other pods or services",
			wantPods: []string{"a", "b"}, wantGen: 5},
		{name: "higher replaces", doc: testDoc(6, "b", "c"), wantChanged: true, wantPods: []string{"b", "c"}, wantGen: 6},
		{name: "higher may empty", doc: testDoc(9), wantChanged: true, wantPods: nil, wantGen: 9},
		{name: "zero generation", doc: testDoc(0, "x"), wantErr: ErrInvalid, wantPods: []string{"a", "b"}, wantGen: 5},
		{name: "negative generation", doc: testDoc(-1, "x"), wantErr: ErrInvalid, wantPods: []string{"a", "b"}, wantGen: 5},
		{name: "nil document", doc: nil, wantErr: ErrInvalid, wantPods: []string{"a", "b"}, wantGen: 5},
		{name: "duplicate pod", doc: testDoc(6, "x", "x"), wantErr: ErrInvalid, wantPods: []string{"a", "b"}, wantGen: 5},
		{name: "unnamed pod", doc: testDoc(6, ""), wantErr: ErrInvalid, wantPods: []string{"a", "b"}, wantGen: 5},
		{name: "huge name", doc: testDoc(6, strings.Repeat("n", 40000)), wantErr: ErrInvalid, wantPods: []string{"a", "b"}, wantGen: 5},
		{name: "duplicate service", doc: &api.NodeState{Generation: 6, Services: []api.Service{testService("s"), testService("s")}},
			wantErr: ErrInvalid, wantPods: []string{"a", "b"}, wantGen: 5},
		{name: "above the range", doc: testDoc(api.MaxGeneration+1, "x"), wantErr: ErrInvalid, wantMsg: "want 1 to 9007199254740991",
			wantPods: []string{"a", "b"}, wantGen: 5},
		{name: "end of the range", doc: testDoc(api.MaxGeneration, "x"), wantChanged: true, wantPods: []string{"x"}, wantGen: api.MaxGeneration},
		{name: "reset from the stored generation", doc: resetDoc(testDoc(1, "x"), 5), wantChanged: true, wantPods: []string{"x"}, wantGen: 1},
		{name: "reset to the same generation", doc: resetDoc(testDoc(5, "x"), 5), wantChanged: true, wantPods: []string{"x"}, wantGen: 5},
		{name: "reset from another generation is stale", doc: resetDoc(testDoc(1, "x"), 4), wantErr: ErrStale,
			wantPods: []string{"a", "b"}, wantGen: 5},
		{name: "reset with a higher generation is an apply", doc: resetDoc(testDoc(6, "x"), 4), wantChanged: true, wantPods: []string{"x"}, wantGen: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openT(t, statePath(t), Options{})
			mustApply(t, s, SourceNode, testDoc(5, "a", "b"))
			wake := s.Watch(t.Context())
			res, err := s.Apply(context.Background(), SourceNode, tt.doc)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Apply err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(fmt.Sprint(err), tt.wantMsg) {
				t.Errorf("Apply err = %q, want it to contain %q", err, tt.wantMsg)
			}
			if res.Changed != tt.wantChanged {
				t.Errorf("Changed = %v, want %v", res.Changed, tt.wantChanged)
			}
			select {
			case <-wake:
				if !tt.wantChanged {
					t.Error("watcher woken by an apply that changed nothing")
				}
			default:
				if tt.wantChanged {
					t.Error("watcher not woken")
				}
			}
			m := mustDesired(t, s)
			if got := podNames(m); !slices.Equal(got, tt.wantPods) {
				t.Errorf("pods = %v, want %v", got, tt.wantPods)
			}
			if m.Generations[SourceNode] != tt.wantGen {
				t.Errorf("generation = %d, want %d", m.Generations[SourceNode], tt.wantGen)
			}
			for _, p := range m.Pods {
				if p.Pod.Metadata.Annotations["gen"] != strconv.FormatInt(tt.wantGen, 10) {
					t.Errorf("pod %s is from generation %s, want %d", p.Pod.Metadata.Name, p.Pod.Metadata.Annotations["gen"], tt.wantGen)
				}
			}
		})
	}
}

func resetDoc(d *api.NodeState, from int64) *api.NodeState {
	d.ResetFrom = from
	return d
}

// An older agent accepted generation 2^63-1: every later document was stale,
// across restarts. A reset from exactly that generation frees the source, and
// replaying the reset later is stale.
func TestResetUnwedgesStoredGeneration(t *testing.T) {
	s := openT(t, statePath(t), Options{})
	mustApply(t, s, SourceNode, testDoc(5, "a"))
	const wedged = int64(math.MaxInt64)
	if err := s.update(t.Context(), func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSources).Bucket([]byte(SourceNode)).Put(keyGeneration, u64(uint64(wedged)))
	}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, Options{})
	if _, err := s.Apply(t.Context(), SourceNode, testDoc(6, "b")); !errors.Is(err, ErrStale) {
		t.Fatalf("apply on the wedged source = %v, want ErrStale", err)
	}
	res := mustApply(t, s, SourceNode, resetDoc(testDoc(1, "b"), wedged))
	if !res.Reset || res.Previous != wedged || res.Generation != 1 || !slices.Equal(res.Added, []string{"b"}) {
		t.Fatalf("reset = %+v", res)
	}
	s = reopen(t, s, Options{})
	mustApply(t, s, SourceNode, testDoc(2, "c"))
	if _, err := s.Apply(t.Context(), SourceNode, resetDoc(testDoc(1, "b"), wedged)); !errors.Is(err, ErrStale) {
		t.Fatalf("replayed reset = %v, want ErrStale", err)
	}
	if m := mustDesired(t, s); m.Generations[SourceNode] != 2 || !slices.Equal(podNames(m), []string{"c"}) {
		t.Fatalf("after the replay: generation %d pods %v", m.Generations[SourceNode], podNames(m))
	}
}

func TestApplyResult(t *testing.T) {
	s := openT(t, statePath(t), Options{})
	res := mustApply(t, s, SourceStatic, testDoc(1, "a", "b"))
	if res.Previous != 0 || res.Generation != 1 || !res.Changed || !slices.Equal(res.Added, []string{"a", "b"}) || res.Removed != nil {
		t.Errorf("first apply = %+v", res)
	}
	res = mustApply(t, s, SourceStatic, testDoc(7, "c", "b"))
	if res.Previous != 1 || res.Generation != 7 || !slices.Equal(res.Added, []string{"c"}) || !slices.Equal(res.Removed, []string{"a"}) {
		t.Errorf("second apply = %+v", res)
	}
	res = mustApply(t, s, SourceStatic, testDoc(7, "b", "c"))
	if res.Changed || res.Previous != 7 || res.Generation != 7 || res.Added != nil {
		t.Errorf("equal apply = %+v", res)
	}
	if _, err := s.Apply(context.Background(), Source("remote:elsewhere"), testDoc(1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("apply to a bad source: %v, want ErrInvalid", err)
	}
}

func TestUIDStability(t *testing.T) {
	s := openT(t, statePath(t), Options{})
	mustApply(t, s, SourceNode, testDoc(1, "a", "b"))
	first := uidsOf(mustDesired(t, s))
	if len(first["a"]) != 32 || first["a"] == first["b"] {
		t.Fatalf("uids = %v, want distinct 32 hex digits", first)
	}
	mustApply(t, s, SourceNode, testDoc(2, "a"))      // b leaves
	mustApply(t, s, SourceStatic, testDoc(1, "b"))    // b appears in another source
	mustApply(t, s, SourceNode, testDoc(3, "a", "b")) // b comes back
	s = reopen(t, s, Options{})
	m := mustDesired(t, s)
	if got := uidsOf(m); got["a"] != first["a"] {
		t.Errorf("uid of a changed across generations: %s -> %s", first["a"], got["a"])
	} else if got["b"] == first["b"] {
		t.Error("b removed and re-added kept its uid")
	}
	if len(m.Conflicts) != 1 || m.Conflicts[0].Loser != SourceStatic {
		t.Fatalf("conflicts = %+v", m.Conflicts)
	}
}

func TestMergedOrderAndConflicts(t *testing.T) {
	shops, _ := GroupSource("shops")
	eu, _ := GroupSource("eu")
	zz, _ := GroupSource("zz")
	aa, _ := GroupSource("aa")
	s := openT(t, statePath(t), Options{Groups: []string{"shops", "eu"}})
	withSvc := func(d *api.NodeState, svcs ...string) *api.NodeState {
		for _, n := range svcs {
			d.Services = append(d.Services, testService(n))
		}
		return d
	}
	mustApply(t, s, SourceStatic, withSvc(testDoc(1, "web", "local", "metrics"), "web"))
	mustApply(t, s, zz, testDoc(4, "metrics", "z-only"))
	mustApply(t, s, aa, testDoc(4, "metrics"))
	mustApply(t, s, eu, withSvc(testDoc(2, "web", "cache"), "web", "cache"))
	mustApply(t, s, shops, testDoc(9, "cache", "pos"))
	mustApply(t, s, SourceNode, testDoc(3, "web"))

	m := mustDesired(t, s)
	wantOwner := map[string]Source{"cache": shops, "local": SourceStatic, "metrics": aa, "pos": shops, "web": SourceNode, "z-only": zz}
	if got, want := podNames(m), []string{"cache", "local", "metrics", "pos", "web", "z-only"}; !slices.Equal(got, want) {
		t.Fatalf("pods = %v, want %v", got, want)
	}
	for _, p := range m.Pods {
		if p.Source != wantOwner[p.Pod.Metadata.Name] {
			t.Errorf("pod %s from %s, want %s", p.Pod.Metadata.Name, p.Source, wantOwner[p.Pod.Metadata.Name])
		}
	}
	wantConflicts := []Conflict{
		{KindPod, "cache", shops, eu},
		{KindPod, "metrics", aa, zz},
		{KindPod, "metrics", aa, SourceStatic},
		{KindPod, "web", SourceNode, eu},
		{KindPod, "web", SourceNode, SourceStatic},
		{KindService, "web", eu, SourceStatic},
	}
	if !slices.Equal(m.Conflicts, wantConflicts) {
		t.Errorf("conflicts =\n%v\nwant\n%v", m.Conflicts, wantConflicts)
	}
	if len(m.Services) != 2 || m.Services[0].Service.Metadata.Name != "cache" || m.Services[1].Source != eu {
		t.Errorf("services = %+v", m.Services)
	}
	gens, err := s.Generations(context.Background())
	if err != nil || len(gens) != 6 || gens[shops] != 9 || gens[SourceStatic] != 1 {
		t.Errorf("Generations = %v, %v", gens, err)
	}

	if err := s.DeleteSource(context.Background(), SourceNode); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSource(context.Background(), SourceNode); err != nil {
		t.Fatalf("second DeleteSource: %v", err)
	}
	m = mustDesired(t, s)
	for _, p := range m.Pods {
		if p.Pod.Metadata.Name == "web" && p.Source != eu {
			t.Errorf("after deleting remote:node, web comes from %s, want %s", p.Source, eu)
		}
	}
	if _, ok := m.Generations[SourceNode]; ok {
		t.Error("deleted source still has a generation")
	}
}

// TestConcurrentReaders checks readers never see a mix of generations while
// one writer applies: every pod carries its document's generation.
func TestConcurrentReaders(t *testing.T) {
	s := openT(t, statePath(t), Options{})
	names := func(gen int64) []string {
		var out []string
		for i := range 5 + gen%7 {
			out = append(out, fmt.Sprintf("pod-%d", (i+gen)%15))
		}
		return out
	}
	mustApply(t, s, SourceNode, testDoc(1, names(1)...))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var reads atomic.Int64
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				m, err := s.Desired(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				gen := m.Generations[SourceNode]
				if got, want := podNames(m), sorted(names(gen)); !slices.Equal(got, want) {
					t.Errorf("generation %d: pods %v, want %v", gen, got, want)
				}
				for _, p := range m.Pods {
					if p.Pod.Metadata.Annotations["gen"] != strconv.FormatInt(gen, 10) {
						t.Errorf("generation %d holds pod %s of generation %s", gen, p.Pod.Metadata.Name, p.Pod.Metadata.Annotations["gen"])
					}
				}
				reads.Add(1)
			}
		})
	}
	for gen := int64(2); gen <= 60; gen++ {
		mustApply(t, s, SourceNode, testDoc(gen, names(gen)...))
	}
	cancel()
	wg.Wait()
	t.Logf("%d consistent reads during 59 applies", reads.Load())
}

// SourceDocument holds a source's pods even where another source wins the
// name in the merged view.
func TestSourceDocument(t *testing.T) {
	s := openT(t, statePath(t), Options{})
	if _, err := s.SourceDocument(t.Context(), SourceStatic); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty source = %v, want ErrNotFound", err)
	}
	mustApply(t, s, SourceNode, testDoc(2, "web"))
	doc := testDoc(4, "web", "db")
	doc.Services = []api.Service{testService("s")}
	mustApply(t, s, SourceStatic, doc)
	got, err := s.SourceDocument(t.Context(), SourceStatic)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got.Pods {
		names = append(names, p.Metadata.Name)
	}
	if got.Generation != 4 || strings.Join(names, ",") != "db,web" || len(got.Services) != 1 {
		t.Fatalf("static source = generation %d pods %v services %d", got.Generation, names, len(got.Services))
	}
}
