package store

import (
	"bufio"
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
	bolt "go.etcd.io/bbolt"
)

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	s := openT(t, statePath(t), Options{})
	mustApply(t, s, SourceNode, testDoc(3, "web", "db"))
	before := mustDesired(t, s)
	st := api.PodStatus{Source: string(SourceNode), Name: "web", Phase: api.PodRunning}
	if err := s.PutPodStatus(ctx, st); err != nil {
		t.Fatal(err)
	}
	if err := s.PutNodeStatus(ctx, []byte(`{"ready":true}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordEvent(ctx, api.Event{Type: api.EventNormal, Reason: "Started", Object: "pod/web"}); err != nil {
		t.Fatal(err)
	}
	ip, err := s.AllocateClusterIP(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}

	s = reopen(t, s, Options{})
	after := mustDesired(t, s)
	if got, want := uidsOf(after), uidsOf(before); !equalMaps(got, want) {
		t.Errorf("uids after reopen = %v, want %v", got, want)
	}
	if after.Generations[SourceNode] != 3 {
		t.Errorf("generation after reopen = %d, want 3", after.Generations[SourceNode])
	}
	if got, err := s.PodStatus(ctx, SourceNode, "web"); err != nil || got.Phase != api.PodRunning {
		t.Errorf("PodStatus after reopen = %+v, %v", got, err)
	}
	if got, err := s.NodeStatus(ctx); err != nil || string(got) != `{"ready":true}` {
		t.Errorf("NodeStatus after reopen = %q, %v", got, err)
	}
	if evs, err := s.RecentEvents(ctx, "pod/web", 0); err != nil || len(evs) != 1 {
		t.Errorf("RecentEvents after reopen = %v, %v", evs, err)
	}
	if msgs, err := s.Peek(ctx, 10); err != nil || len(msgs) != 1 || msgs[0].Topic != TopicEvents {
		t.Errorf("outbox after reopen = %v, %v", msgs, err)
	}
	if got, err := s.AllocateClusterIP(ctx, "web"); err != nil || got != ip {
		t.Errorf("cluster IP after reopen = %s, %v; want %s", got, err, ip)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// setSchema rewrites the schema version of a closed file.
func setSchema(t *testing.T, path string, v []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, v) }); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		want    error
		wantMsg string
	}{
		{
			name: "newer schema",
			prepare: func(t *testing.T, path string) {
				s := openT(t, path, Options{})
				s.Close()
				setSchema(t, path, u64(3))
			},
			want:    ErrNewerSchema,
			wantMsg: "has schema 3, this outpost understands up to 1: newer schema: downgrade is not supported",
		},
		{
			name: "unreadable schema",
			prepare: func(t *testing.T, path string) {
				s := openT(t, path, Options{})
				s.Close()
				setSchema(t, path, []byte("x"))
			},
			want: ErrInvalid,
		},
		{
			name: "bbolt file of someone else",
			prepare: func(t *testing.T, path string) {
				db, err := bolt.Open(path, 0o600, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
			},
			want: ErrInvalid,
		},
		{
			name: "not a bbolt file",
			prepare: func(t *testing.T, path string) {
				if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 1000)), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: ErrInvalid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := statePath(t)
			tt.prepare(t, path)
			s, err := Open(path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Open error = %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestMigrate(t *testing.T) {
	var ran []uint64
	step := func(from uint64) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			ran = append(ran, from)
			_, err := tx.CreateBucketIfNotExists([]byte("added-by-" + string(rune('0'+from))))
			return err
		}
	}
	db, err := bolt.Open(statePath(t), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := migrate(tx, "test", 1, nil); err != nil {
			return err
		}
		found, err := migrate(tx, "test", 3, map[uint64]func(*bolt.Tx) error{1: step(1), 2: step(2)})
		if err != nil || found != 1 {
			t.Errorf("migrate to 3 found %d, err %v", found, err)
		}
		if got := readU64(tx.Bucket(bucketMeta).Get(keySchema)); got != 3 {
			t.Errorf("schema after migrate = %d, want 3", got)
		}
		if tx.Bucket([]byte("added-by-2")) == nil {
			t.Error("migration 2 did not run")
		}
		_, err = migrate(tx, "test", 4, nil)
		if err == nil {
			t.Error("migrate without a step succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ran) != 2 || ran[0] != 1 || ran[1] != 2 {
		t.Errorf("steps ran %v, want [1 2]", ran)
	}
}

func TestOpenOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"zero", Options{}, true},
		{"ipv6", Options{ServiceCIDR: netip.MustParsePrefix("fd00:43::/112")}, true},
		{"slash 31 has no address", Options{ServiceCIDR: netip.MustParsePrefix("10.0.0.0/31")}, false},
		{"bad group", Options{Groups: []string{"Bad_Group"}}, false},
		{"negative bound", Options{OutboxMaxCount: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(statePath(t), tt.opts)
			if tt.ok != (err == nil) {
				t.Fatalf("Open err = %v, want ok=%v", err, tt.ok)
			}
			if err == nil {
				s.Close()
			} else if !errors.Is(err, ErrInvalid) {
				t.Errorf("Open err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	opts := Options{}
	t.Run("same process", func(t *testing.T) {
		// bbolt locks with flock, which Linux ties to the open file
		// description: a second Open in one process conflicts too.
		path := statePath(t)
		openT(t, path, opts)
		assertLocked(t, path, opts)
	})
	t.Run("other process", func(t *testing.T) {
		path := statePath(t)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=hold", pathEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
			t.Fatalf("child said %q", line)
		}
		assertLocked(t, path, opts)
	})
}

func assertLocked(t *testing.T, path string, opts Options) {
	t.Helper()
	start := time.Now()
	s, err := Open(path, opts)
	took := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatal("second Open succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another outpost agent holds "+path) {
		t.Errorf("second Open error = %v, want ErrLocked naming the path", err)
	}
	if took > 3*time.Second {
		t.Errorf("second Open took %s, want < 3s", took)
	}
	t.Logf("second Open failed after %s: %v", took.Round(time.Millisecond), err)
}

func TestClosedStore(t *testing.T) {
	s := openT(t, statePath(t), Options{})
	ch := s.Watch(context.Background())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			// A pending wake is allowed; the close must follow.
			if _, ok := <-ch; ok {
				t.Fatal("watch channel not closed")
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatal("watch channel not closed by Close")
	}
	if _, err := s.Desired(context.Background()); err == nil {
		t.Error("Desired on a closed store succeeded")
	}
	if _, ok := <-s.Watch(context.Background()); ok {
		t.Error("Watch on a closed store returned an open channel")
	}
}
