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

// Inbox holds the messages received and not yet acknowledged, in arrival
// order. A burst of documents for one source is applied as its newest alone
// (latest wins), the way a pod worker collapses pending updates: applying a
// thousand documents one by one would only make the node start and stop
// pods nobody wants any more. Messages are acknowledged in the order they
// arrived, as MQTT 3.1.1 (4.6) wants of a receiver.
//
// The zero value is ready. It is not safe for concurrent use: the link's
// receive loop owns it.
type Inbox struct {
	entries []*entry // arrival order; entries[0] is never settled
}

type entry struct {
	src     store.Source
	m       Message
	settled bool
}

// Put adds m, received for src.
func (in *Inbox) Put(src store.Source, m Message) {
	in.entries = append(in.entries, &entry{src: src, m: m})
}

// Skip adds m as settled already (a message on a topic the node does not
// read): it is acknowledged now if nothing waits before it, else in its turn.
func (in *Inbox) Skip(m Message) {
	if len(in.entries) == 0 {
		m.Ack()
		return
	}
	in.entries = append(in.entries, &entry{m: m, settled: true})
}

// Len is the number of messages held.
func (in *Inbox) Len() int { return len(in.entries) }

// Settle settles the waiting messages of the source of the oldest one. The
// newest is handled first; when it is rejected for good the one before it
// is tried, and so on, so the outcome is that of applying them one by one
// in order: the newest document that can be stored is. The ones older than
// it are superseded: settled without being read (each would be stale or
// replaced at once). Settled messages are acknowledged in arrival order,
// once every message before them is settled too.
//
// When the store fails (a full disk) Settle returns the error wrapping
// ErrNotStored and settles none of that source's messages, so the caller
// retries later: the broker does not redeliver an unacknowledged message
// within a connection. (A document rejected meanwhile is dead-lettered and
// goes quietly the next time.)
func (r *Receiver) Settle(ctx context.Context, in *Inbox) error {
	if len(in.entries) == 0 {
		return nil
	}
	src := in.entries[0].src
	var batch []*entry
	for _, e := range in.entries {
		if e.src == src && !e.settled {
			batch = append(batch, e)
		}
	}
	for i := len(batch) - 1; i >= 0; i-- {
		stored, err := r.handle(ctx, src, batch[i].m.Topic(), batch[i].m.Payload())
		if err != nil {
			return err
		}
		if stored {
			if i > 0 {
				r.log.Debug().Str("source", string(src)).Int("superseded", i).Msg("older pending documents settled unread: a newer one is stored")
			}
			break
		}
	}
	for _, e := range batch {
		e.settled = true
	}
	n := 0
	for n < len(in.entries) && in.entries[n].settled {
		in.entries[n].m.Ack()
		n++
	}
	in.entries = slices.Delete(in.entries, 0, n)
	return nil
}
