package desired

import (
	"context"
	"slices"

	"github.com/outpost-edge/outpost/store"
)

// Message is a received desired-topic message (paho's mqtt.Message has
// these methods).
type Message interface {
	Topic() string
	Payload() []byte
	Ack()
}

// Inbox holds the messages received and not yet acknowledged, per source
// in arrival order. A burst of documents for one source is applied as its
// newest alone (latest wins), the way a pod worker collapses pending
// updates: applying a thousand documents one by one would only make the
// node start and stop pods nobody wants any more.
//
// The zero value is ready. It is not safe for concurrent use: the link's
// receive loop owns it.
type Inbox struct {
	order []store.Source // sources with messages, oldest first
	msgs  map[store.Source][]Message
}

// Put adds m, received for src.
func (in *Inbox) Put(src store.Source, m Message) {
	if in.msgs == nil {
		in.msgs = map[store.Source][]Message{}
	}
	if len(in.msgs[src]) == 0 {
		in.order = append(in.order, src)
	}
	in.msgs[src] = append(in.msgs[src], m)
}

// Len is the number of messages held.
func (in *Inbox) Len() int {
	n := 0
	for _, ms := range in.msgs {
		n += len(ms)
	}
	return n
}

// Settle settles the messages of the source that has waited longest. The
// newest is handled first; when it is rejected for good the one before it
// is tried, and so on, so the outcome is that of applying them one by one
// in order: the newest document that can be stored is. The ones older than
// it are superseded: acknowledged without being read (each would be stale
// or replaced at once). Every message is acknowledged once settled.
//
// When the store fails (a full disk) Settle returns the error wrapping
// ErrNotStored and keeps the unsettled messages, so the caller retries
// later; the broker does not redeliver an unacknowledged message within a
// connection.
func (r *Receiver) Settle(ctx context.Context, in *Inbox) error {
	if len(in.order) == 0 {
		return nil
	}
	src := in.order[0]
	msgs := in.msgs[src]
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		stored, err := r.handle(ctx, src, m.Topic(), m.Payload())
		if err != nil {
			in.msgs[src] = msgs[:i+1]
			return err
		}
		m.Ack()
		if stored {
			if i > 0 {
				r.log.Debug().Str("source", string(src)).Int("superseded", i).Msg("older pending documents acknowledged unread: a newer one is stored")
			}
			for _, old := range msgs[:i] {
				old.Ack()
			}
			break
		}
	}
	delete(in.msgs, src)
	in.order = slices.Delete(in.order, 0, 1)
	return nil
}
