package runtime_test

import (
	"context"
	"testing"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/outpost-edge/outpost/runtime/ctrd"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// TestSnapshotLeftByAKilledAgent: an agent killed between preparing a
// container's snapshot and recording the container leaves the snapshot;
// the next start of that attempt (same container ID) must still work.
func TestSnapshotLeftByAKilledAgent(t *testing.T) {
	e := newEnv(t, nil)
	p := pod(t, hostPod("leftover", "echo started; exec sleep 3600"))
	ref := runtimeapi.PodRef{Source: "static", Name: "leftover", UID: newUID()}
	id := ref.UID[:12] + "-main-2" // the ID of attempt 2 of container main
	// What the killed agent had prepared: the container's snapshot on the image.
	e.prepareSnapshot(namespaces.WithNamespace(context.Background(), ctrd.Namespace), id)
	sb, err := e.rt.EnsureSandbox(context.Background(), p, ref)
	if err != nil {
		t.Fatal(err)
	}
	started, err := e.rt.StartContainer(context.Background(), runtimeapi.StartRequest{Pod: p, Ref: ref, Sandbox: sb, Container: &p.Spec.Containers[0], Attempt: 2})
	if err != nil {
		t.Fatalf("start over a left snapshot: %v", err)
	}
	if started.ID != id {
		t.Fatalf("started %s, want %s (the test's guess of the ID is wrong)", started.ID, id)
	}
}
