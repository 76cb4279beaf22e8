package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/outpost-edge/outpost/api"
	bolt "go.etcd.io/bbolt"
)

// TopicEvents is the outbox topic of recorded events.
const TopicEvents = "events"

// RecordEvent keeps ev in the ring of recent events (dropping the oldest past
// Options.EventsKeep) and queues it in the outbox under TopicEvents, both in
// one transaction.
func (s *Store) RecordEvent(ctx context.Context, ev api.Event) error {
	data, err := json.Marshal(&ev)
	if err != nil {
		return fmt.Errorf("store: record event: %w: encode: %w", ErrInvalid, err)
	}
	msg := Message{Topic: TopicEvents, Payload: data, QoS: 1}
	var pushed pushResult
	err = s.batch(ctx, func(tx *bolt.Tx) error {
		if err := appendEvent(tx.Bucket(bucketEvents), data, s.opts.EventsKeep); err != nil {
			return err
		}
		pushed, err = s.pushTx(tx, &msg)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: record event %s %s: %w", ev.Object, ev.Reason, err)
	}
	s.afterPush(pushed)
	return nil
}

// appendEvent adds data at the end of the ring. Keys are consecutive
// sequence numbers and only the oldest are ever deleted, so the ring holds
// last-first+1 events.
func appendEvent(b *bolt.Bucket, data []byte, keep int) error {
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	if err := b.Put(u64(seq), data); err != nil {
		return err
	}
	c := b.Cursor()
	for {
		first, _ := c.First()
		if first == nil || seq-readU64(first)+1 <= uint64(keep) {
			return nil
		}
		if err := b.Delete(first); err != nil {
			return err
		}
	}
}

// RecentEvents returns up to limit of the most recent events about object
// (all objects when object is ""), newest last. limit <= 0 means all kept.
func (s *Store) RecentEvents(ctx context.Context, object string, limit int) ([]api.Event, error) {
	var out []api.Event
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var ev api.Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("store: event %d: decode: %w", readU64(k), err)
			}
			if object == "" || ev.Object == object {
				out = append(out, ev)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}
