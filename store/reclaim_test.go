package store

import (
	"context"
	"testing"
)

// TestReclaimGivesUIDsBack: after the store is lost, pods found running get
// their uid back when their source sends them again; until then they are
// listed as reclaimed; a source's document ends what is remembered for it.
func TestReclaimGivesUIDsBack(t *testing.T) {
	ctx := context.Background()
	s := openT(t, statePath(t), Options{})
	mustApply(t, s, SourceStatic, testDoc(1, "local"))
	err := s.Reclaim(ctx, []ReclaimedPod{
		{Source: SourceNode, Name: "web", UID: "u-web"},
		{Source: SourceNode, Name: "old", UID: "u-old"},
		{Source: SourceStatic, Name: "local", UID: "u-ignored"}, // static has its document
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reclaim(ctx, []ReclaimedPod{{Source: "nowhere", Name: "x", UID: "u"}}); err == nil {
		t.Error("Reclaim of an invalid source succeeded")
	}
	m := mustDesired(t, s)
	if len(m.Reclaimed) != 2 || m.Reclaimed[0].UID != "u-old" || m.Reclaimed[1].UID != "u-web" {
		t.Fatalf("Reclaimed = %+v, want old and web of remote:node", m.Reclaimed)
	}
	if uidsOf(m)["local"] == "u-ignored" {
		t.Error("a source with a document took a reclaimed uid")
	}

	mustApply(t, s, SourceNode, testDoc(1, "web", "new"))
	m = mustDesired(t, s)
	uids := uidsOf(m)
	if uids["web"] != "u-web" {
		t.Errorf("web's uid = %q, want the reclaimed u-web", uids["web"])
	}
	if uids["new"] == "" || uids["new"] == "u-old" {
		t.Errorf("new's uid = %q, want a fresh one", uids["new"])
	}
	if len(m.Reclaimed) != 0 {
		t.Errorf("Reclaimed after the document = %+v, want none", m.Reclaimed)
	}
	// old was not in the document: gone for good, a later old is a new pod.
	mustApply(t, s, SourceNode, testDoc(2, "web", "new", "old"))
	if got := uidsOf(mustDesired(t, s))["old"]; got == "u-old" {
		t.Error("a pod that came back after its document dropped it got the reclaimed uid")
	}
}
