package report

import (
	"context"
	"fmt"
	"reflect"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// OutboxStore is what the drainer needs from the store.
type OutboxStore interface {
	Peek(ctx context.Context, n int) ([]store.Message, error)
	Ack(ctx context.Context, seq uint64) error
	WatchOutbox(ctx context.Context) <-chan struct{}
}

// DefaultWindow is how many outbox messages are in flight at once: enough to
// keep a slow link busy, few enough that a lost connection resends little.
const DefaultWindow = 16

// Drainer publishes the outbox in order.
type Drainer struct {
	st     OutboxStore
	topics protocol.Topics
	window int
	log    zerolog.Logger
	// acked is called after every Ack (the link refreshes its depth figure).
	acked func()
}

// NewDrainer returns a drainer of st's outbox. window <= 0 is DefaultWindow.
func NewDrainer(st OutboxStore, topics protocol.Topics, window int, log zerolog.Logger, acked func()) *Drainer {
	if window <= 0 {
		window = DefaultWindow
	}
	if reflect.ValueOf(log).IsZero() {
		log = zerolog.Nop()
	}
	if acked == nil {
		acked = func() {}
	}
	return &Drainer{st: st, topics: topics, window: window, log: log.With().Str("component", "sync/report").Logger(), acked: acked}
}

// Run drains the outbox until ctx is done (nil) or a publish fails. Each
// round publishes up to window messages, waits for their acknowledgements in
// order and acks the outbox up to the last acknowledged one, so a message
// leaves the outbox only once the broker has it. A message already handed to
// the broker client when the connection dropped is resent by the client's
// session store, not by the outbox (see mqttlink's reconcile).
func (d *Drainer) Run(ctx context.Context, pub Publisher) error {
	wake := d.st.WatchOutbox(ctx)
	for {
		msgs, err := d.st.Peek(ctx, d.window)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("outbox peek: %w", err)
		}
		if len(msgs) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case _, ok := <-wake:
				if !ok {
					return nil // the store closed
				}
			}
			continue
		}
		if err := d.round(ctx, pub, msgs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

func (d *Drainer) round(ctx context.Context, pub Publisher, msgs []store.Message) error {
	waits := make([]func(context.Context) error, 0, len(msgs))
	for _, m := range msgs {
		payload := m.Payload
		if m.Topic == store.TopicEvents {
			p, err := protocol.EventPayload(d.topics.Node, m.Seq, m.Payload)
			if err != nil {
				// Cannot happen for events the store recorded; never let one
				// message block the queue behind it.
				d.log.Error().Err(err).Uint64("seq", m.Seq).Msg("outbox event is not a JSON object, sent as stored")
			} else {
				payload = p
			}
		}
		waits = append(waits, pub.Publish(d.topics.Outbox(m.Topic), m.QoS, m.Retain, payload))
	}
	var done uint64
	var failed error
	for i, wait := range waits {
		if err := wait(ctx); err != nil {
			failed = fmt.Errorf("outbox publish %d: %w", msgs[i].Seq, err)
			break
		}
		done = msgs[i].Seq
	}
	if done > 0 {
		// A context that just ended must not lose the acks of messages the
		// broker has: they would be published twice.
		if err := d.st.Ack(context.WithoutCancel(ctx), done); err != nil {
			return fmt.Errorf("outbox ack %d: %w", done, err)
		}
		d.acked()
	}
	return failed
}
