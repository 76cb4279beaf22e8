package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
)

// TestE2ELeftGroupStops: the store holds the documents of groups "kept"
// and "left" (the control plane sent them earlier); the node's config now
// lists only "kept". Booting with no network at all, the agent runs kept's
// pod and not left's.
func TestE2ELeftGroupStops(t *testing.T) {
	n := newNode(t)
	n.appendConfig("groups: [kept]\n")
	st, err := store.Open(filepath.Join(n.data, "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"kept", "left"} {
		ns, err := api.ParseManifest([]byte(httpdPod(g, "from-"+g)))
		if err != nil {
			t.Fatal(err)
		}
		ns.Generation = 2
		src, _ := store.GroupSource(g)
		if _, err := st.Apply(context.Background(), src, ns); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	n.start()
	n.waitServes("kept", "from-kept")
	if pids := n.httpdPIDs(); len(pids) != 1 {
		t.Fatalf("httpd processes %v, want kept's alone", pids)
	}
	out, err := n.cli("get", "pods")
	if err != nil || strings.Contains(out, "left") {
		t.Fatalf("get pods (%v):\n%s", err, out)
	}
	if !strings.Contains(n.logs.String(), "left a group") {
		t.Errorf("the agent did not say it left the group:\n%s", n.logs.String())
	}
	n.stop()
}
