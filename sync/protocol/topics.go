package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultPrefix is the topic prefix when the configuration names none.
const DefaultPrefix = "outpost/v1"

// ErrTopic is wrapped by every topic-naming error.
var ErrTopic = errors.New("invalid topic")

// Outbox topics are relative: the link publishes outbox topic t under
// {prefix}/nodes/{node}/t.
const (
	TopicDesired = "desired"
	TopicStatus  = "status"
	TopicEvents  = "events"
	TopicOnline  = "online"
)

// Topics names the topics of one node.
type Topics struct {
	Prefix string
	Node   string
}

// NewTopics checks prefix and node; an empty prefix is DefaultPrefix.
func NewTopics(prefix, node string) (Topics, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := ValidPrefix(prefix); err != nil {
		return Topics{}, err
	}
	if err := ValidLevel(node); err != nil {
		return Topics{}, fmt.Errorf("node name: %w", err)
	}
	return Topics{Prefix: prefix, Node: node}, nil
}

// ValidPrefix accepts one or more topic levels without wildcards, without a
// leading or trailing '/' and without empty levels.
func ValidPrefix(p string) error {
	if p == "" || len(p) > 1024 {
		return fmt.Errorf("%w: prefix must have 1 to 1024 bytes", ErrTopic)
	}
	for _, level := range strings.Split(p, "/") {
		if err := ValidLevel(level); err != nil {
			return fmt.Errorf("prefix %q: %w", p, err)
		}
	}
	return nil
}

// ValidLevel accepts one non-empty topic level: no '/', no MQTT wildcard
// ('+', '#'), no NUL, and not starting with '$' (reserved by brokers).
func ValidLevel(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty topic level", ErrTopic)
	case len(s) > 253:
		return fmt.Errorf("%w: topic level %q is longer than 253 bytes", ErrTopic, s)
	case strings.ContainsAny(s, "/+#\x00"):
		return fmt.Errorf("%w: topic level %q holds '/', '+', '#' or NUL", ErrTopic, s)
	case s[0] == '$':
		return fmt.Errorf("%w: topic level %q starts with '$'", ErrTopic, s)
	}
	return nil
}

func (t Topics) node(leaf string) string { return t.Prefix + "/nodes/" + t.Node + "/" + leaf }

// NodeDesired carries the node's own document (to the node, QoS 1, retained).
func (t Topics) NodeDesired() string { return t.node(TopicDesired) }

// GroupDesired carries a group's document (to every member, QoS 1, retained).
func (t Topics) GroupDesired(group string) string {
	return t.Prefix + "/groups/" + group + "/" + TopicDesired
}

// Status carries the node's status snapshot (from the node, QoS 1, retained)
// and, not retained, its heartbeats.
func (t Topics) Status() string { return t.node(TopicStatus) }

// Events carries events (from the node, QoS 1, not retained).
func (t Topics) Events() string { return t.node(TopicEvents) }

// Online carries the presence flag (from the node, QoS 1, retained; the Last Will sets it false).
func (t Topics) Online() string { return t.node(TopicOnline) }

// Outbox maps a store outbox topic (relative, such as "events") to its full topic.
func (t Topics) Outbox(rel string) string { return t.node(rel) }

// Target is what a desired topic addresses.
type Target struct {
	// Group is empty for the node's own document.
	Group string
}

// ParseDesired tells which document a desired topic of this node carries.
func (t Topics) ParseDesired(topic string) (Target, bool) {
	if topic == t.NodeDesired() {
		return Target{}, true
	}
	rest, ok := strings.CutPrefix(topic, t.Prefix+"/groups/")
	if !ok {
		return Target{}, false
	}
	group, ok := strings.CutSuffix(rest, "/"+TopicDesired)
	if !ok || ValidLevel(group) != nil {
		return Target{}, false
	}
	return Target{Group: group}, true
}
