package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/outpost-edge/outpost/api"
)

// The benchmarks use a real file: every write includes bbolt's fdatasync.

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
