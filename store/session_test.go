package store

import (
	"context"
	"errors"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func sessionKeys(t *testing.T, s *Store) []string {
	t.Helper()
	es, err := s.SessionEntries(context.Background())
	if err != nil {
		t.Fatalf("SessionEntries: %v", err)
	}
	var keys []string
	for _, e := range es {
		keys = append(keys, e.Key+"="+string(e.Data))
	}
	return keys
}

func TestSession(t *testing.T) {
	ctx := context.Background()
	path := statePath(t)
	s := openT(t, path, Options{})
	for _, kv := range [][2]string{{"o.9", "a"}, {"o.2", "b"}, {"i.5", "c"}, {"o.9", "a2"}} {
		if err := s.SessionPut(ctx, kv[0], []byte(kv[1])); err != nil {
			t.Fatalf("SessionPut %s: %v", kv[0], err)
		}
	}
	// Insertion order, not key order; a replaced key keeps its place.
	want := []string{"o.9=a2", "o.2=b", "i.5=c"}
	if got := sessionKeys(t, s); !slices.Equal(got, want) {
		t.Fatalf("entries = %v, want %v", got, want)
	}
	if err := s.SessionDelete(ctx, "o.2"); err != nil {
		t.Fatal(err)
	}
	if err := s.SessionDelete(ctx, "o.2"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.SessionGet(ctx, "o.2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SessionGet deleted = %v, want ErrNotFound", err)
	}
	s = reopen(t, s, Options{})
	if got, want := sessionKeys(t, s), []string{"o.9=a2", "i.5=c"}; !slices.Equal(got, want) {
		t.Fatalf("after reopen = %v, want %v", got, want)
	}
	if d, err := s.SessionGet(ctx, "i.5"); err != nil || string(d) != "c" {
		t.Fatalf("SessionGet = %q, %v", d, err)
	}
	if err := s.SessionPut(ctx, "", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty key = %v, want ErrInvalid", err)
	}
	if err := s.SessionReset(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sessionKeys(t, s); len(got) != 0 {
		t.Fatalf("after reset = %v", got)
	}
}

// A file written before the session bucket existed gets it on open.
func TestSessionBucketOnOlderFile(t *testing.T) {
	path := statePath(t)
	s := openT(t, path, Options{})
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketSession) }); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, Options{})
	if err := s.SessionPut(context.Background(), "o.1", []byte("x")); err != nil {
		t.Fatalf("SessionPut on an upgraded file: %v", err)
	}
}
