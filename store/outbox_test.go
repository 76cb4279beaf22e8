package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

func push(t *testing.T, s *Store, payload string) uint64 {
	t.Helper()
	seq, err := s.Push(context.Background(), Message{Topic: "t", Payload: []byte(payload), QoS: 1})
	if err != nil {
		t.Fatalf("Push %q: %v", payload, err)
	}
	return seq
}

func payloads(t *testing.T, s *Store) string {
	t.Helper()
	msgs, err := s.Peek(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, m := range msgs {
		fmt.Fprintf(&b, "%d:%s ", m.Seq, m.Payload)
	}
	return b.String()
}

func TestOutboxOrderAndAck(t *testing.T) {
	ctx := context.Background()
	s := openT(t, statePath(t), Options{})
	for i := range 5 {
		if seq := push(t, s, fmt.Sprint("m", i)); seq != uint64(i+1) {
			t.Fatalf("seq = %d, want %d", seq, i+1)
		}
	}
	if msgs, _ := s.Peek(ctx, 2); len(msgs) != 2 || string(msgs[1].Payload) != "m1" || msgs[1].QoS != 1 || msgs[1].Topic != "t" {
		t.Errorf("Peek(2) = %+v", msgs)
	}
	if err := s.Ack(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if got := payloads(t, s); got != "4:m3 5:m4 " {
		t.Errorf("after Ack(3): %s", got)
	}
	if err := s.Ack(ctx, 2); err != nil {
		t.Errorf("Ack of an acked seq: %v", err)
	}
	if err := s.Ack(ctx, 99); !errors.Is(err, ErrInvalid) {
		t.Errorf("Ack of a seq never pushed: %v, want ErrInvalid", err)
	}
	if err := s.Ack(ctx, 5); err != nil {
		t.Fatal(err)
	}
	// Sequence numbers never go back, even across reopen with an empty queue.
	s = reopen(t, s, Options{})
	if seq := push(t, s, "again"); seq != 6 {
		t.Errorf("seq after reopen = %d, want 6", seq)
	}
	st, _ := s.OutboxStats(ctx)
	if st.Depth != 1 {
		t.Errorf("stats = %+v", st)
	}
	msg := Message{Topic: "retained/x", Payload: nil, QoS: 2, Retain: true}
	seq, err := s.Push(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := s.Peek(ctx, 10)
	if got := msgs[len(msgs)-1]; got.Seq != seq || got.Topic != msg.Topic || !got.Retain || got.QoS != 2 || len(got.Payload) != 0 {
		t.Errorf("round trip = %+v", got)
	}
}

func TestOutboxBounds(t *testing.T) {
	ctx := context.Background()
	// A message of payload "mN" takes 3 header + 1 topic length + 1 topic + 2 payload = 7 bytes.
	const size = 7
	tests := []struct {
		name        string
		opts        Options
		pushes      int
		want        string
		wantDropped uint64
	}{
		{"count", Options{OutboxMaxCount: 3}, 6, "4:m3 5:m4 6:m5 ", 3},
		{"bytes", Options{OutboxMaxBytes: 4 * size}, 6, "3:m2 4:m3 5:m4 6:m5 ", 2},
		{"bytes exactly full", Options{OutboxMaxBytes: 2 * size}, 2, "1:m0 2:m1 ", 0},
		{"both", Options{OutboxMaxCount: 3, OutboxMaxBytes: 2 * size}, 4, "3:m2 4:m3 ", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openT(t, statePath(t), tt.opts)
			for i := range tt.pushes {
				push(t, s, fmt.Sprint("m", i))
			}
			if got := payloads(t, s); got != tt.want {
				t.Errorf("queue = %s, want %s", got, tt.want)
			}
			s = reopen(t, s, tt.opts)
			st, err := s.OutboxStats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			depth := len(bytes.Fields([]byte(tt.want)))
			if st.Depth != depth || st.Bytes != int64(depth*size) || st.Dropped != tt.wantDropped {
				t.Errorf("stats after reopen = %+v, want depth %d, bytes %d, dropped %d", st, depth, depth*size, tt.wantDropped)
			}
		})
	}
}

func TestOutboxRefuses(t *testing.T) {
	ctx := context.Background()
	s := openT(t, statePath(t), Options{OutboxMaxBytes: 64})
	push(t, s, "keep")
	tests := []struct {
		name string
		msg  Message
		want error
	}{
		{"too large", Message{Topic: "t", Payload: make([]byte, 64)}, ErrTooLarge},
		{"no topic", Message{Payload: []byte("x")}, ErrInvalid},
		{"bad qos", Message{Topic: "t", QoS: 3}, ErrInvalid},
	}
	for _, tt := range tests {
		if _, err := s.Push(ctx, tt.msg); !errors.Is(err, tt.want) {
			t.Errorf("%s: Push err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if got := payloads(t, s); got != "1:keep " {
		t.Errorf("queue after refused pushes = %s", got)
	}
	if st, _ := s.OutboxStats(ctx); st.Dropped != 0 {
		t.Errorf("refused pushes dropped %d messages", st.Dropped)
	}
	if msgs, err := s.Peek(ctx, 0); err != nil || msgs != nil {
		t.Errorf("Peek(0) = %v, %v", msgs, err)
	}
}
