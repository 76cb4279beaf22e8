package mqtttest

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/clock"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/mqttlink"
)

// Node is the agent's side of the protocol without the agent: a real
// mqttlink.Link over a real store in a temp dir, run in-process. Nothing
// runs pods: the store's applied generation is what the link reports as
// observed, and the report lists no pod status.
type Node struct {
	Name  string
	Store *store.Store
	Link  *mqttlink.Link

	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// FastConfig is a link configuration for tests: short status interval,
// heartbeat, keep-alive and backoff.
func FastConfig(brokers ...string) mqttlink.Config {
	c := mqttlink.DefaultConfig()
	c.Brokers = brokers
	c.StatusInterval = 50 * time.Millisecond
	c.Heartbeat = 300 * time.Millisecond
	c.KeepAlive = 2 * time.Second
	c.ConnectTimeout = 2 * time.Second
	c.Backoff = mqttlink.Backoff{Min: 50 * time.Millisecond, Max: 400 * time.Millisecond, Reset: time.Second}
	return c
}

// NodeOptions configure StartNode.
type NodeOptions struct {
	Groups []string
	// Dir holds the state file (default a new temp dir).
	Dir   string
	Clock clock.Clock
}

// StartNode opens a store and runs a link for node name; it stops when the
// test ends.
func StartNode(tb testing.TB, cfg mqttlink.Config, name string, opts NodeOptions) *Node {
	tb.Helper()
	dir := opts.Dir
	if dir == "" {
		dir = tb.TempDir()
	}
	st, err := store.Open(filepath.Join(dir, name+".db"), store.Options{Groups: opts.Groups})
	if err != nil {
		tb.Fatal(err)
	}
	l, err := mqttlink.New(st, cfg, mqttlink.Params{NodeName: name, Groups: opts.Groups, AgentVersion: "test", Clock: opts.Clock})
	if err != nil {
		_ = st.Close()
		tb.Fatalf("mqttlink.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{Name: name, Store: st, Link: l, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- l.Run(ctx) }()
	tb.Cleanup(func() {
		if err := n.Stop(); err != nil {
			tb.Errorf("node %s: %v", name, err)
		}
	})
	return n
}

// Stop cancels the link, waits for it and closes the store.
func (n *Node) Stop() error {
	var err error
	n.once.Do(func() {
		n.cancel()
		select {
		case err = <-n.done:
		case <-time.After(15 * time.Second):
			err = context.DeadlineExceeded
		}
		if cerr := n.Store.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

// Connected reports whether the link is connected now.
func (n *Node) Connected() bool { return n.Link.State().State == mqttlink.StateConnected }

// Generation is the stored generation of src (0 when none).
func (n *Node) Generation(tb testing.TB, src store.Source) int64 {
	tb.Helper()
	g, err := n.Store.Generations(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return g[src]
}

// Eventually polls cond every 20ms until it holds, or fails tb after d.
func Eventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
