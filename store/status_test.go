package store

import (
	"context"
	"errors"
	"testing"

	"github.com/outpost-edge/outpost/api"
)

func TestPodStatus(t *testing.T) {
	ctx := context.Background()
	s := openT(t, statePath(t), Options{})
	shops, _ := GroupSource("shops")
	puts := []api.PodStatus{
		{Source: string(SourceStatic), Name: "web", Phase: api.PodPending},
		{Source: string(SourceNode), Name: "web", Phase: api.PodRunning, UID: "u1"},
		{Source: string(shops), Name: "pos", Phase: api.PodRunning},
		{Source: string(SourceStatic), Name: "web", Phase: api.PodFailed, Reason: "Error"}, // replaces the first
	}
	for _, st := range puts {
		if err := s.PutPodStatus(ctx, st); err != nil {
			t.Fatalf("PutPodStatus %+v: %v", st, err)
		}
	}
	all, err := s.PodStatuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"remote:group/shops/pos Running", "remote:node/web Running", "static/web Failed"}
	if len(all) != len(want) {
		t.Fatalf("PodStatuses = %+v", all)
	}
	for i, st := range all {
		if got := st.Source + "/" + st.Name + " " + st.Phase; got != want[i] {
			t.Errorf("status %d = %s, want %s", i, got, want[i])
		}
	}
	if err := s.DeletePodStatus(ctx, SourceStatic, "web"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePodStatus(ctx, SourceStatic, "web"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.PodStatus(ctx, SourceStatic, "web"); !errors.Is(err, ErrNotFound) {
		t.Errorf("PodStatus after delete: %v, want ErrNotFound", err)
	}
	if st, err := s.PodStatus(ctx, SourceNode, "web"); err != nil || st.UID != "u1" {
		t.Errorf("PodStatus = %+v, %v", st, err)
	}

	bad := []api.PodStatus{
		{Source: "nowhere", Name: "web"},
		{Source: string(SourceNode), Name: ""},
	}
	for _, st := range bad {
		if err := s.PutPodStatus(ctx, st); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutPodStatus %+v: %v, want ErrInvalid", st, err)
		}
	}
}

func TestNodeStatus(t *testing.T) {
	ctx := context.Background()
	s := openT(t, statePath(t), Options{})
	if _, err := s.NodeStatus(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("NodeStatus on a new file: %v, want ErrNotFound", err)
	}
	for _, blob := range [][]byte{[]byte("one"), []byte("two"), nil} {
		if err := s.PutNodeStatus(ctx, blob); err != nil {
			t.Fatal(err)
		}
		got, err := s.NodeStatus(ctx)
		if err != nil || string(got) != string(blob) || got == nil {
			t.Errorf("NodeStatus = %q, %v; want %q", got, err, blob)
		}
	}
}

func TestPutPodStatuses(t *testing.T) {
	s := openT(t, statePath(t), Options{})
	ctx := context.Background()
	sts := []api.PodStatus{
		{Source: string(SourceStatic), Name: "a", Phase: api.PodRunning},
		{Source: string(SourceNode), Name: "b", Phase: api.PodPending},
	}
	if err := s.PutPodStatuses(ctx, sts); err != nil {
		t.Fatal(err)
	}
	got, err := s.PodStatuses(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("PodStatuses = %v, %v", got, err)
	}
	if err := s.PutPodStatuses(ctx, []api.PodStatus{{Source: "bogus", Name: "c"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad source: err = %v", err)
	}
	if got, _ := s.PodStatuses(ctx); len(got) != 2 {
		t.Fatalf("a rejected batch wrote something: %v", got)
	}
}
