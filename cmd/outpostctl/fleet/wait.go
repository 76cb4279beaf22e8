package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// Watcher follows the status, online flag and events of a target's nodes,
// to tell when they observed a generation. Open it before Apply: events are
// not retained, and a rejection published before the watcher subscribed is
// never seen.
type Watcher struct {
	c     *Client
	t     Target
	sub   *subscription
	fixed bool // the members were named; else discovered

	mu       sync.Mutex
	members  map[string]bool
	views    map[string]*NodeView
	warnings []warning
	changed  chan struct{} // buffered(1): something to re-evaluate
	// before is the generation each node reported in the first report the
	// watcher saw: what it had stored before the apply (the broker sends
	// the retained report on subscription, ahead of anything newer).
	before map[string]int64
	// published and reset describe the document waited for (WaitResult):
	// Apply published it (it was not unchanged), and it is a generation reset.
	published, reset bool
}

type warning struct {
	node string
	ev   protocol.Event
}

// Watch starts following t's nodes. For a node target they are that node.
// For a group they are nodes (when not empty), else every node that reports
// a generation of the group, now or later (see NodeView.Groups: a group's
// first document has no known members until one reports it).
func (c *Client) Watch(ctx context.Context, t Target, nodes []string) (*Watcher, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	w := &Watcher{c: c, t: t, members: map[string]bool{}, views: map[string]*NodeView{}, changed: make(chan struct{}, 1),
		before: map[string]int64{}}
	n := "+"
	switch {
	case t.Node != "":
		w.fixed, w.members[t.Node], n = true, true, t.Node
	case len(nodes) > 0:
		w.fixed = true
		for _, name := range nodes {
			if err := (Target{Node: name}).Validate(); err != nil {
				return nil, err
			}
			w.members[name] = true
		}
	}
	var filters []string
	for _, leaf := range []string{protocol.TopicStatus, protocol.TopicOnline, protocol.TopicEvents} {
		filters = append(filters, c.prefix+"/nodes/"+n+"/"+leaf)
	}
	sub, err := c.subscribe(ctx, filters, w.add)
	if err != nil {
		return nil, err
	}
	w.sub = sub
	return w, nil
}

// Close stops following.
func (w *Watcher) Close() { w.sub.Close() }

func (w *Watcher) add(m Message) {
	kind, node, leaf, ok := splitTopic(w.c.prefix, m.Topic)
	if !ok || kind != "nodes" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fixed && !w.members[node] {
		return
	}
	v, ok := w.views[node]
	if !ok {
		v = &NodeView{Name: node}
		w.views[node] = v
	}
	switch leaf {
	case protocol.TopicStatus:
		if !v.addStatus(m.Payload) {
			break
		}
		if _, seen := w.before[node]; !seen {
			w.before[node] = v.Report.ObservedGenerations[w.t.Source()]
		}
		if !w.fixed {
			if _, listed := v.Report.ObservedGenerations[w.t.Source()]; listed {
				w.members[node] = true
			}
		}
	case protocol.TopicOnline:
		var o protocol.Online
		if json.Unmarshal(m.Payload, &o) == nil {
			v.Online = &o
		}
	case protocol.TopicEvents:
		var ev protocol.Event
		if json.Unmarshal(m.Payload, &ev) == nil && ev.Type == api.EventWarning && ev.Object == "source/"+w.t.Source() {
			w.warnings = append(w.warnings, warning{node: node, ev: ev})
		}
	}
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// Members are the nodes waited for so far, sorted.
func (w *Watcher) Members() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Sorted(maps.Keys(w.members))
}

// Progress is where a generation stands on the watched nodes.
type Progress struct {
	Target     Target
	Generation int64
	// Observed are the nodes that report the generation or a newer one
	// (exactly the generation for a reset). A node that had a generation
	// as high stored before the apply published it does not apply it, and
	// is Rejected (see WaitResult).
	Observed []string
	Rejected []Rejection
	Pending  []Pending
}

// Done: every member observed or rejected the generation (and there is at least one member).
func (p Progress) Done() bool {
	return len(p.Pending) == 0 && len(p.Observed)+len(p.Rejected) > 0
}

// Rejection is a node's Warning event about the document.
type Rejection struct {
	Node, Reason, Message string
}

// Pending is a node that did not observe the generation yet.
type Pending struct {
	Node string
	// Online is nil when the node's online flag is unknown.
	Online *bool
	// Observed is the generation the node reports (0: none, or no report).
	Observed int64
}

// Progress evaluates gen now; sha256 (of the published payload, as
// ApplyResult.SHA256) lets a node's rejection event be matched to it.
func (w *Watcher) Progress(gen int64, sha256 string) Progress {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := Progress{Target: w.t, Generation: gen}
	rejected := map[string]Rejection{}
	if len(sha256) >= 16 {
		// The node's rejection message names the payload's digest
		// ("sha256:<first 16 hex digits>", docs/protocol.md).
		for _, wn := range w.warnings {
			if strings.Contains(wn.ev.Message, sha256[:16]) {
				rejected[wn.node] = Rejection{Node: wn.node, Reason: wn.ev.Reason, Message: wn.ev.Message}
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(w.members)) {
		v := w.views[name]
		var observed int64
		if v != nil && v.Report != nil {
			observed = v.Report.ObservedGenerations[w.t.Source()]
		}
		r, isRejected := rejected[name]
		before, known := w.before[name]
		switch {
		case isRejected:
			// First: a node that rejected this very document (a stale
			// generation, say) may report a generation as high or higher.
			p.Rejected = append(p.Rejected, r)
		case w.reset:
			if observed == gen {
				p.Observed = append(p.Observed, name)
			} else {
				p.Pending = append(p.Pending, w.pending(name, v, observed))
			}
		case known && (before > gen || before == gen && w.published):
			// Its store only goes up: it does not apply the document (a
			// higher generation is stale; the same one is stale with other
			// content, a no-op with the same). Its event may come later,
			// or never if it is offline; its report of the generation it
			// had is no sign of this document.
			p.Rejected = append(p.Rejected, Rejection{Node: name, Reason: "StaleGeneration",
				Message: fmt.Sprintf("the node had generation %d stored before generation %d was published: it does not apply it (outpostctl apply --reset frees a node stuck at a generation)", before, gen)})
		case observed >= gen:
			p.Observed = append(p.Observed, name)
		default:
			p.Pending = append(p.Pending, w.pending(name, v, observed))
		}
	}
	return p
}

func (w *Watcher) pending(name string, v *NodeView, observed int64) Pending {
	pd := Pending{Node: name, Observed: observed}
	if v != nil && v.Online != nil {
		on := v.Online.Online
		pd.Online = &on
	}
	return pd
}

// WaitResult waits for what Apply did (res) as Wait does for its
// generation, knowing more: when Apply published a document, a node that had
// that generation or a higher one stored before does not apply it and is
// Rejected; a reset is observed when a node reports exactly its generation.
// Call it once per Watcher.
func (w *Watcher) WaitResult(ctx context.Context, res ApplyResult) (Progress, error) {
	w.mu.Lock()
	w.published, w.reset = !res.Unchanged, res.ResetFrom != 0
	w.mu.Unlock()
	return w.Wait(ctx, res.Generation, res.SHA256)
}

// Wait returns when every member observed or rejected gen: nil when all
// observed, an error wrapping ErrRejected when any rejected. When ctx ends
// first, the error wraps ErrPending and the progress says who is missing.
func (w *Watcher) Wait(ctx context.Context, gen int64, sha256 string) (Progress, error) {
	for {
		p := w.Progress(gen, sha256)
		if p.Done() {
			if len(p.Rejected) > 0 {
				return p, fmt.Errorf("%w: %d of %d node(s) rejected %s generation %d", ErrRejected,
					len(p.Rejected), len(p.Rejected)+len(p.Observed), w.t, gen)
			}
			return p, nil
		}
		select {
		case <-w.changed:
		case <-w.c.lost:
			return p, w.c.LostErr()
		case <-ctx.Done():
			n := len(p.Pending) + len(p.Observed) + len(p.Rejected)
			return p, fmt.Errorf("%w: %d of %d node(s) did not report %s generation %d: %w", ErrPending,
				len(p.Pending), n, w.t, gen, ctx.Err())
		}
	}
}
