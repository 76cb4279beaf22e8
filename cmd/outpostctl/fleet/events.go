package fleet

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/outpost-edge/outpost/sync/protocol"
)

// recentSeqs is how many sequence numbers per node the duplicate filter
// remembers: QoS 1 redelivers within the in-flight window of a node's
// outbox (report.DefaultWindow), far fewer.
const recentSeqs = 256

// Events calls fn with every event node publishes (every node's when node
// is "") from now until ctx ends (nil) or the connection is lost (an error
// wrapping ErrBroker). Events are not retained: those published before the
// call are not seen. Duplicates (QoS 1 is at least once) are dropped by
// (node, seq). fn runs on the delivery goroutine, one event at a time.
func (c *Client) Events(ctx context.Context, node string, fn func(protocol.Event)) error {
	n := "+"
	if node != "" {
		if err := (Target{Node: node}).Validate(); err != nil {
			return err
		}
		n = node
	}
	seen := map[string][]uint64{}
	sub, err := c.subscribe(ctx, []string{c.prefix + "/nodes/" + n + "/" + protocol.TopicEvents}, func(m Message) {
		var ev protocol.Event
		if err := json.Unmarshal(m.Payload, &ev); err != nil {
			c.log.Warn().Err(err).Str("topic", m.Topic).Msg("event payload is not an event, skipped")
			return
		}
		if ev.Node == "" {
			_, ev.Node, _, _ = splitTopic(c.prefix, m.Topic)
		}
		recent := seen[ev.Node]
		if slices.Contains(recent, ev.Seq) {
			return
		}
		if len(recent) == recentSeqs {
			recent = recent[1:]
		}
		seen[ev.Node] = append(recent, ev.Seq)
		fn(ev)
	})
	if err != nil {
		return err
	}
	defer sub.Close()
	select {
	case <-ctx.Done():
		return nil
	case <-c.lost:
		return c.LostErr()
	}
}
