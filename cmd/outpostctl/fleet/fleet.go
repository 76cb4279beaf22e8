package fleet

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/outpost-edge/outpost/sync/protocol"
)

// NodeView is what the broker holds about one node.
type NodeView struct {
	Name string
	// Online is the retained online message (nil: none seen).
	Online *protocol.Online
	// Report is the retained status snapshot (nil: none seen).
	Report *protocol.NodeReport
	// LastHeartbeat is the newest heartbeat seen. Heartbeats are not
	// retained: a snapshot sees one only if it arrived while it was taken.
	LastHeartbeat time.Time
	// Doc is the node's own desired document.
	Doc Doc
}

// IsOnline reports the online flag; false when unknown.
func (n *NodeView) IsOnline() bool { return n.Online != nil && n.Online.Online }

// LastSeen is the newest time the node itself wrote in a message seen:
// its report, a heartbeat, its online message. An idle node's retained
// report keeps the time of its last change; only heartbeats (not retained)
// and reconnections move it.
func (n *NodeView) LastSeen() time.Time {
	var t time.Time
	if n.Report != nil && n.Report.Time.After(t) {
		t = n.Report.Time
	}
	if n.LastHeartbeat.After(t) {
		t = n.LastHeartbeat
	}
	if n.Online != nil && n.Online.Time != nil && n.Online.Time.After(t) {
		t = *n.Online.Time
	}
	return t
}

// AgentVersion from the report, else from the online message.
func (n *NodeView) AgentVersion() string {
	if n.Report != nil && n.Report.AgentVersion != "" {
		return n.Report.AgentVersion
	}
	if n.Online != nil {
		return n.Online.AgentVersion
	}
	return ""
}

// Groups are the groups the node reports a generation for. A node reports a
// group only once it stored a document of it: a member of a group that
// never had a document is not visible on the wire.
func (n *NodeView) Groups() []string {
	if n.Report == nil {
		return nil
	}
	var gs []string
	for src := range n.Report.ObservedGenerations {
		if g, ok := strings.CutPrefix(src, "remote:group/"); ok {
			gs = append(gs, g)
		}
	}
	slices.Sort(gs)
	return gs
}

// Fleet is a snapshot of the retained messages of every node and group.
type Fleet struct {
	Nodes  map[string]*NodeView
	Groups map[string]Doc
}

// Names are the node names, sorted.
func (f *Fleet) Names() []string { return slices.Sorted(maps.Keys(f.Nodes)) }

// Members are the nodes that report a generation of group, sorted.
func (f *Fleet) Members(group string) []string {
	var out []string
	for _, name := range f.Names() {
		if slices.Contains(f.Nodes[name].Groups(), group) {
			out = append(out, name)
		}
	}
	return out
}

// Desired is the generation of every retained document addressed to the
// node, by the source name the node reports it under: its own document, and
// the document of each group it reports (0 when that group has none).
func (f *Fleet) Desired(node string) map[string]int64 {
	out := map[string]int64{}
	n, ok := f.Nodes[node]
	if !ok {
		return out
	}
	if n.Doc.Present {
		out[Target{Node: node}.Source()] = n.Doc.Generation
	}
	for _, g := range n.Groups() {
		out[Target{Group: g}.Source()] = f.Groups[g].Generation
	}
	return out
}

// Fleet reads the retained messages of node ("" for every node) and of
// every group's desired document.
func (c *Client) Fleet(ctx context.Context, node string) (*Fleet, error) {
	n := "+"
	if node != "" {
		if err := (Target{Node: node}).Validate(); err != nil {
			return nil, err
		}
		n = node
	}
	f := &Fleet{Nodes: map[string]*NodeView{}, Groups: map[string]Doc{}}
	var mu sync.Mutex
	filters := []string{
		c.prefix + "/nodes/" + n + "/" + protocol.TopicOnline,
		c.prefix + "/nodes/" + n + "/" + protocol.TopicStatus,
		c.prefix + "/nodes/" + n + "/" + protocol.TopicDesired,
		c.prefix + "/groups/+/" + protocol.TopicDesired,
	}
	s, err := c.subscribe(ctx, filters, func(m Message) {
		mu.Lock()
		defer mu.Unlock()
		f.add(c.prefix, m)
	})
	if err != nil {
		return nil, err
	}
	s.Close()
	mu.Lock()
	defer mu.Unlock()
	return f, nil
}

// add files one message of the fleet's topics.
func (f *Fleet) add(prefix string, m Message) {
	kind, name, leaf, ok := splitTopic(prefix, m.Topic)
	if !ok {
		return
	}
	if kind == "groups" {
		if leaf == protocol.TopicDesired && len(m.Payload) > 0 {
			f.Groups[name] = ParseDoc(m.Topic, m.Payload)
		}
		return
	}
	n := f.node(name)
	switch leaf {
	case protocol.TopicOnline:
		var o protocol.Online
		if json.Unmarshal(m.Payload, &o) == nil {
			n.Online = &o
		}
	case protocol.TopicStatus:
		n.addStatus(m.Payload)
	case protocol.TopicDesired:
		n.Doc = ParseDoc(m.Topic, m.Payload)
	}
}

func (f *Fleet) node(name string) *NodeView {
	n, ok := f.Nodes[name]
	if !ok {
		n = &NodeView{Name: name}
		f.Nodes[name] = n
	}
	return n
}

// addStatus takes a NodeReport or a Heartbeat; it reports whether the
// payload was a report.
func (n *NodeView) addStatus(payload []byte) bool {
	var kind struct {
		Kind string    `json:"kind"`
		Time time.Time `json:"time"`
	}
	if json.Unmarshal(payload, &kind) != nil {
		return false
	}
	switch kind.Kind {
	case protocol.KindNodeReport:
		var r protocol.NodeReport
		if json.Unmarshal(payload, &r) == nil {
			n.Report = &r
			return true
		}
	case protocol.KindHeartbeat:
		if kind.Time.After(n.LastHeartbeat) {
			n.LastHeartbeat = kind.Time
		}
	}
	return false
}

// splitTopic reads {prefix}/{nodes|groups}/{name}/{leaf}.
func splitTopic(prefix, topic string) (kind, name, leaf string, ok bool) {
	rest, ok := strings.CutPrefix(topic, prefix+"/")
	if !ok {
		return "", "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || (parts[0] != "nodes" && parts[0] != "groups") {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}
