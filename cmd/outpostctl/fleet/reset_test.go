package fleet

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/mqtttest"
)

// publishRaw publishes a document with generation gen on t's topic, as a
// control plane other than Apply would (retained, QoS 1).
func publishRaw(t *testing.T, c *Client, tgt Target, st *api.NodeState, gen int64, s *Signer) []byte {
	t.Helper()
	topic := tgt.DesiredTopic(c.prefix)
	payload, err := Encode(topic, st, gen, s)
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.c.Publish(topic, 1, true, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	return payload
}

// A node that stored a generation above the one apply publishes rejects
// it: Wait must say so, not take the node's report of its higher
// generation for the new one observed.
func TestWaitNeverReportsStaleAsObserved(t *testing.T) {
	n, c := startN1(t, mqtttest.NodeOptions{Groups: []string{"edge"}}, nil)
	ctx := withTimeout(t, time.Minute)
	tgt := Target{Group: "edge"}
	edge, _ := store.GroupSource("edge")

	publishRaw(t, c, tgt, state(t, "a"), 100, nil)
	mqtttest.Eventually(t, 30*time.Second, "generation 100 stored", func() bool { return n.Generation(t, edge) == 100 })
	// The retained document goes back to 5 (the node rejects it): apply
	// now publishes 6.
	publishRaw(t, c, tgt, state(t, "b"), 5, nil)
	waitReported(t, ctx, c, string(edge), 100)

	w, err := c.Watch(ctx, tgt, []string{"n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	res, err := c.Apply(ctx, tgt, state(t, "c"), ApplyOptions{})
	if err != nil || res.Generation != 6 {
		t.Fatalf("apply = %+v, %v; want generation 6", res, err)
	}
	p, err := w.WaitResult(ctx, res)
	if !errors.Is(err, ErrRejected) || len(p.Observed) != 0 || len(p.Rejected) != 1 || p.Rejected[0].Reason != "StaleGeneration" {
		t.Fatalf("wait = %+v, %v; want n1 rejecting generation 6 as stale", p, err)
	}
	if g := n.Generation(t, edge); g != 100 {
		t.Fatalf("stored generation %d, want 100", g)
	}
}

// Two control planes publish one generation with different pods: the node
// keeps the first and rejects the second (StaleGeneration, where it used to
// ignore it silently), and the second's wait says so instead of taking the
// node's report of the generation for its own document.
func TestSameGenerationOtherContentRejected(t *testing.T) {
	n, c := startN1(t, mqtttest.NodeOptions{}, nil)
	ctx := withTimeout(t, time.Minute)
	tgt := Target{Node: "n1"}

	publishRaw(t, c, tgt, state(t, "first"), 2, nil)
	waitReported(t, ctx, c, "remote:node", 2)
	w, err := c.Watch(ctx, tgt, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	payload := publishRaw(t, c, tgt, state(t, "second"), 2, nil)
	p, err := w.WaitResult(ctx, ApplyResult{Target: tgt, Generation: 2, Payload: payload, SHA256: digest(payload)})
	if !errors.Is(err, ErrRejected) || len(p.Observed) != 0 {
		t.Fatalf("wait = %+v, %v; want the second document rejected", p, err)
	}
	mqtttest.Eventually(t, 30*time.Second, "the node's StaleGeneration event", func() bool {
		evs, _ := n.Store.RecentEvents(ctx, "source/remote:node", 0)
		for _, ev := range evs {
			if ev.Reason == "StaleGeneration" && strings.Contains(ev.Message, "generation 2 is stored already, with other pods or services") {
				return true
			}
		}
		return false
	})
	m, err := n.Store.Desired(ctx)
	if err != nil || len(m.Pods) != 1 || m.Pods[0].Pod.Metadata.Name != "first" {
		t.Fatalf("pods %+v, %v; want the first document's", m, err)
	}
}

// A node at the end of the generation range takes nothing more; apply
// says so, and a signed reset frees it, after which applies go on from 1.
func TestResetFreesNodeAtEndOfRange(t *testing.T) {
	s, _ := GenerateKey("cp-test")
	n, c := startN1(t, mqtttest.NodeOptions{}, s)
	ctx := withTimeout(t, time.Minute)
	tgt := Target{Node: "n1"}

	publishRaw(t, c, tgt, state(t, "a"), api.MaxGeneration, s)
	mqtttest.Eventually(t, 30*time.Second, "the last generation stored", func() bool {
		return n.Generation(t, store.SourceNode) == api.MaxGeneration
	})
	if _, err := c.Apply(ctx, tgt, state(t, "b"), ApplyOptions{Signer: s}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--reset") {
		t.Fatalf("apply past the range = %v, want ErrInvalid naming --reset", err)
	}
	if _, err := c.Apply(ctx, tgt, state(t, "b"), ApplyOptions{Reset: true}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unsigned reset = %v, want ErrInvalid", err)
	}

	w, err := c.Watch(ctx, tgt, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Apply(ctx, tgt, state(t, "b"), ApplyOptions{Signer: s, Reset: true})
	if err != nil || res.Generation != 1 || res.ResetFrom != api.MaxGeneration {
		t.Fatalf("reset = %+v, %v", res, err)
	}
	if p, err := w.WaitResult(ctx, res); err != nil || len(p.Observed) != 1 {
		t.Fatalf("wait for the reset: %+v, %v", p, err)
	}
	w.Close()
	if g := n.Generation(t, store.SourceNode); g != 1 {
		t.Fatalf("generation after the reset %d, want 1", g)
	}

	w, err = c.Watch(ctx, tgt, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	res, err = c.Apply(ctx, tgt, state(t, "c"), ApplyOptions{Signer: s})
	if err != nil || res.Generation != 2 {
		t.Fatalf("apply after the reset = %+v, %v; want generation 2", res, err)
	}
	if p, err := w.WaitResult(ctx, res); err != nil || len(p.Observed) != 1 {
		t.Fatalf("wait after the reset: %+v, %v", p, err)
	}
}
