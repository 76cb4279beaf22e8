package agent

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
	"github.com/outpost-edge/outpost/store"
)

const twoPods = `apiVersion: v1
kind: Pod
metadata: {name: keep}
spec:
  containers: [{name: c, image: 'img:1'}]
---
apiVersion: v1
kind: Pod
metadata: {name: gone}
spec:
  containers: [{name: c, image: 'img:1'}]
`

// TestStoreLostPodsHeldThenAdopted: the store is lost (a corrupt file moved
// aside, an empty one in its place) while pods run. The new agent stops
// none of them while their source has sent nothing; when the document
// comes back, the pod it carries is adopted without a restart (its uid is
// the one on its containers) and the one it no longer carries is stopped.
func TestStoreLostPodsHeldThenAdopted(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.apply(twoPods)
	starts := h.waitStarts(2)
	h.stop()

	fresh, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fresh.Close() })
	obs, _ := h.rt.List(ctx)
	var rec []store.ReclaimedPod
	uids := map[string]string{}
	for _, o := range obs {
		rec = append(rec, store.ReclaimedPod{Source: store.Source(o.Ref.Source), Name: o.Ref.Name, UID: o.Ref.UID})
		uids[o.Ref.Name] = o.Ref.UID
	}
	if err := fresh.Reclaim(ctx, rec); err != nil {
		t.Fatal(err)
	}
	h.st, h.opts.Store, h.gen = fresh, fresh, 0
	h.run()
	<-h.a.Ready()
	// Another source's pod started after the first reconcile proves the
	// agent had its chance to stop the held pods.
	ns, err := api.ParseManifest([]byte(marker))
	if err != nil {
		t.Fatal(err)
	}
	ns.Generation = 1
	if _, err := fresh.Apply(ctx, store.SourceStatic, ns); err != nil {
		t.Fatal(err)
	}
	h.status("marker", func(s api.PodStatus) bool {
		return len(s.ContainerStatuses) == 1 && s.ContainerStatuses[0].State.Running != nil
	})
	if n := running(h.rt); n != 3 {
		t.Fatalf("%d containers running while the source has sent nothing, want the 2 held and the marker", n)
	}

	h.apply(keepOnly)
	m, err := fresh.Desired(ctx)
	keep := slices.IndexFunc(m.Pods, func(p store.DesiredPod) bool { return p.Pod.Metadata.Name == "keep" })
	if err != nil || len(m.Pods) != 2 || keep < 0 || m.Pods[keep].UID != uids["keep"] {
		t.Fatalf("desired after the document came back: %+v (err %v), want keep with uid %s", m, err, uids["keep"])
	}
	h.status("keep", func(s api.PodStatus) bool {
		return len(s.ContainerStatuses) == 1 && s.ContainerStatuses[0].State.Running != nil
	})
	deadline := time.Now().Add(30 * time.Second)
	for running(h.rt) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d containers running, want keep's and the marker's (gone stopped)", running(h.rt))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := h.rt.startList(); !slices.Equal(got[:len(starts)], starts) || len(got) != len(starts)+1 {
		t.Fatalf("containers started after the store was lost: %v, were %v", got, starts)
	}
	st := h.status("keep", func(api.PodStatus) bool { return true })
	if cs := st.ContainerStatuses[0]; cs.RestartCount != 0 || !slices.Contains(starts, cs.ContainerID) {
		t.Fatalf("keep's container %+v, want one of %v with no restart", cs, starts)
	}
}

const marker = `apiVersion: v1
kind: Pod
metadata: {name: marker}
spec:
  containers: [{name: c, image: 'img:1'}]
`

const keepOnly = `apiVersion: v1
kind: Pod
metadata: {name: keep}
spec:
  containers: [{name: c, image: 'img:1'}]
`

func running(f *fakeRuntime) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.ctrs {
		if c.obs.State == runtimeapi.StateRunning {
			n++
		}
	}
	return n
}
