package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
)

func TestLeaveGroups(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{Groups: []string{"pumps"}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, g := range []string{"pumps", "valves", "north"} {
		src, _ := store.GroupSource(g)
		ns, err := api.ParseManifest([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p" + g + "}\nspec:\n  containers: [{name: c, image: busybox:1}]\n"))
		if err != nil {
			t.Fatal(err)
		}
		ns.Generation = int64(i + 1)
		if _, err := st.Apply(ctx, src, ns); err != nil {
			t.Fatal(err)
		}
	}
	node, _ := api.ParseManifest([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: own}\nspec:\n  containers: [{name: c, image: busybox:1}]\n"))
	node.Generation = 1
	if _, err := st.Apply(ctx, store.SourceNode, node); err != nil {
		t.Fatal(err)
	}

	if err := leaveGroups(ctx, st, []string{"pumps"}, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	gens, err := st.Generations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pumps, _ := store.GroupSource("pumps")
	if len(gens) != 2 || gens[pumps] != 1 || gens[store.SourceNode] != 1 {
		t.Fatalf("sources left %v, want pumps and the node's own", gens)
	}
	merged, err := st.Desired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range merged.Pods {
		names = append(names, p.Pod.Metadata.Name)
	}
	if len(names) != 2 {
		t.Fatalf("pods %v, want ppumps and own", names)
	}
	valves, _ := store.GroupSource("valves")
	evs, err := st.RecentEvents(ctx, "source/"+string(valves), 5)
	if err != nil || len(evs) != 1 || evs[0].Reason != ReasonGroupLeft {
		t.Fatalf("events %+v, %v", evs, err)
	}
	// Nothing left to leave: a second start changes nothing.
	if err := leaveGroups(ctx, st, []string{"pumps"}, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	if gens, _ := st.Generations(ctx); len(gens) != 2 {
		t.Fatalf("sources %v after a second start", gens)
	}
}
