package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/outpost-edge/outpost/api"
)

// The benchmarks use a real file: every write includes bbolt's fdatasync.
// Write benchmarks report a same-run baseline ("baseline:ns/op"): bare bbolt
// doing the same writes of already-encoded bytes in one transaction each, so
// the ratio is the store's own cost over the disk's.

// reportBaseline times n runs of fn, each in its own bbolt update transaction
// on a fresh file, and reports the mean as the baseline.
func reportBaseline(b *testing.B, n int, fn func(tx *bolt.Tx, i int) error) {
	b.Helper()
	b.StopTimer()
	db, err := bolt.Open(filepath.Join(b.TempDir(), "baseline.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	for i := range n {
		if err := db.Update(func(tx *bolt.Tx) error { return fn(tx, i) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n), "baseline:ns/op")
}

func fiftyPods(gen int64) *api.NodeState {
	d := &api.NodeState{Generation: gen}
	for i := range 50 {
		d.Pods = append(d.Pods, testPod(fmt.Sprintf("pod-%02d", i), gen))
	}
	for i := range 10 {
		d.Services = append(d.Services, testService(fmt.Sprintf("pod-%02d", i)))
	}
	return d
}

func BenchmarkApply50Pods(b *testing.B) {
	s := openT(b, statePath(b), Options{})
	docs := [2]*api.NodeState{fiftyPods(1), fiftyPods(2)}
	ctx := context.Background()
	b.ReportAllocs()
	gen := int64(0)
	for b.Loop() {
		gen++
		d := docs[gen%2]
		d.Generation = gen
		if _, err := s.Apply(ctx, SourceNode, d); err != nil {
			b.Fatal(err)
		}
	}
	var encoded [][]byte
	for _, p := range docs[0].Pods {
		j, _ := json.Marshal(p)
		encoded = append(encoded, j)
	}
	reportBaseline(b, max(b.N, 20), func(tx *bolt.Tx, _ int) error {
		bk, err := tx.CreateBucketIfNotExists([]byte("pods"))
		if err != nil {
			return err
		}
		for i, j := range encoded {
			if err := bk.Put([]byte(docs[0].Pods[i].Metadata.Name), j); err != nil {
				return err
			}
		}
		return nil
	})
}

func BenchmarkDesired(b *testing.B) {
	s := openT(b, statePath(b), Options{})
	mustApply(b, s, SourceNode, fiftyPods(1))
	static := &api.NodeState{Generation: 1}
	for i := range 10 {
		static.Pods = append(static.Pods, testPod(fmt.Sprintf("local-%d", i), 1))
	}
	mustApply(b, s, SourceStatic, static)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m, err := s.Desired(ctx)
		if err != nil || len(m.Pods) != 60 {
			b.Fatal(err)
		}
	}
}

func BenchmarkOutboxPush(b *testing.B) {
	s := openT(b, statePath(b), Options{})
	msg := Message{Topic: "outpost/node-1/status", Payload: make([]byte, 512), QoS: 1}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Push(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
	reportBaseline(b, max(b.N, 20), func(tx *bolt.Tx, _ int) error {
		bk, err := tx.CreateBucketIfNotExists([]byte("outbox"))
		if err != nil {
			return err
		}
		seq, _ := bk.NextSequence()
		return bk.Put(binary.BigEndian.AppendUint64(nil, seq), msg.Payload)
	})
}

// BenchmarkOutboxPop is one Peek of the oldest message and its Ack.
func BenchmarkOutboxPop(b *testing.B) {
	s := openT(b, statePath(b), Options{})
	msg := Message{Topic: "outpost/node-1/status", Payload: make([]byte, 512), QoS: 1}
	ctx := context.Background()
	for range b.N + 1 {
		if _, err := s.Push(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		msgs, err := s.Peek(ctx, 1)
		if err != nil || len(msgs) != 1 {
			b.Fatal(err)
		}
		if err := s.Ack(ctx, msgs[0].Seq); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenCheck is the check Open makes of an existing file at its
// largest: a full outbox (8 MiB), a full event ring and 50 pods. It reports
// the file's size.
func BenchmarkOpenCheck(b *testing.B) {
	path := statePath(b)
	s := openT(b, path, Options{})
	ctx := context.Background()
	mustApply(b, s, SourceNode, fiftyPods(1))
	for i := range DefaultEventsKeep {
		if err := s.RecordEvent(ctx, api.Event{Reason: "R", Object: "node", Message: fmt.Sprint(i)}); err != nil {
			b.Fatal(err)
		}
	}
	msg := Message{Topic: "outpost/node-1/status", Payload: make([]byte, 4096), QoS: 1}
	for range DefaultOutboxMaxBytes / 4096 {
		if _, err := s.Push(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := verifyFile(path, time.Minute, time.Second); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(fileSize(b, path))/(1<<20), "MiB")
}
