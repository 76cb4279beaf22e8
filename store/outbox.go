package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Message is one message waiting for the link to the broker.
type Message struct {
	// Seq is assigned by Push and increases with every push, forever.
	Seq     uint64
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// OutboxStats describe the outbox.
type OutboxStats struct {
	Depth int
	// Bytes is the sum of the stored sizes (payload, topic and 4 to 6 bytes of header).
	Bytes int64
	// Dropped counts the messages dropped to make room since the file was created.
	Dropped uint64
}

const (
	messageFormat  = 1
	maxTopicLen    = 65535 // MQTT's bound
	flagRetain     = 1
	messageHeadLen = 3
)

type pushResult struct {
	seq     uint64
	dropped uint64
}

// Push queues m (its Seq is ignored) and returns the sequence number it got.
// When the outbox would exceed Options.OutboxMaxCount or OutboxMaxBytes the
// oldest messages are dropped and counted; a message larger than
// OutboxMaxBytes on its own is refused with ErrTooLarge and drops nothing.
func (s *Store) Push(ctx context.Context, m Message) (uint64, error) {
	var res pushResult
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var err error
		res, err = s.pushTx(tx, &m)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: push %s: %w", m.Topic, err)
	}
	s.afterPush(res)
	return res.seq, nil
}

func (s *Store) afterPush(res pushResult) {
	s.outboxWatch.wake()
	if res.dropped > 0 {
		s.log.Warn().Uint64("seq", res.seq).Uint64("dropped", res.dropped).Msg("outbox full, oldest messages dropped")
	}
}

func (s *Store) pushTx(tx *bolt.Tx, m *Message) (pushResult, error) {
	switch {
	case m.Topic == "" || len(m.Topic) > maxTopicLen:
		return pushResult{}, fmt.Errorf("%w: topic must have 1 to %d bytes", ErrInvalid, maxTopicLen)
	case m.QoS > 2:
		return pushResult{}, fmt.Errorf("%w: QoS %d, want 0, 1 or 2", ErrInvalid, m.QoS)
	}
	data := encodeMessage(m)
	size := uint64(len(data))
	if size > uint64(s.opts.OutboxMaxBytes) {
		return pushResult{}, fmt.Errorf("%w: message of %d bytes exceeds the outbox bound of %d bytes",
			ErrTooLarge, size, s.opts.OutboxMaxBytes)
	}
	ob := tx.Bucket(bucketOutbox)
	mb := ob.Bucket(bucketMessages)
	count, total, dropped := readU64(ob.Get(keyOutCount)), readU64(ob.Get(keyOutBytes)), readU64(ob.Get(keyOutDropped))
	var res pushResult
	c := mb.Cursor()
	for count+1 > uint64(s.opts.OutboxMaxCount) || total+size > uint64(s.opts.OutboxMaxBytes) {
		k, v := c.First()
		if k == nil {
			count, total = 0, 0 // counters cannot disagree with an empty queue
			break
		}
		count, total = count-min(count, 1), total-min(total, uint64(len(v)))
		dropped++
		res.dropped++
		if err := mb.Delete(k); err != nil {
			return pushResult{}, err
		}
	}
	seq, err := mb.NextSequence()
	if err != nil {
		return pushResult{}, err
	}
	if err := mb.Put(u64(seq), data); err != nil {
		return pushResult{}, err
	}
	res.seq = seq
	return res, putCounters(ob, count+1, total+size, dropped)
}

func putCounters(ob *bolt.Bucket, count, total, dropped uint64) error {
	return errors.Join(ob.Put(keyOutCount, u64(count)), ob.Put(keyOutBytes, u64(total)), ob.Put(keyOutDropped, u64(dropped)))
}

// Peek returns the oldest n messages, oldest first, without removing them.
func (s *Store) Peek(ctx context.Context, n int) ([]Message, error) {
	if n <= 0 {
		return nil, nil
	}
	var out []Message
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Bucket(bucketMessages).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			m, err := decodeMessage(v)
			if err != nil {
				return fmt.Errorf("store: outbox message %d: %w", readU64(k), err)
			}
			m.Seq = readU64(k)
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Ack removes every message up to and including seq. Acking a sequence
// number that was already removed does nothing; one that was never assigned
// is ErrInvalid.
func (s *Store) Ack(ctx context.Context, seq uint64) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		ob := tx.Bucket(bucketOutbox)
		mb := ob.Bucket(bucketMessages)
		if seq > mb.Sequence() {
			return fmt.Errorf("store: ack %d: %w: the last pushed message is %d", seq, ErrInvalid, mb.Sequence())
		}
		count, total, dropped := readU64(ob.Get(keyOutCount)), readU64(ob.Get(keyOutBytes)), readU64(ob.Get(keyOutDropped))
		removed := false
		c := mb.Cursor()
		for k, v := c.First(); k != nil && readU64(k) <= seq; k, v = c.First() {
			count, total = count-min(count, 1), total-min(total, uint64(len(v)))
			if err := mb.Delete(k); err != nil {
				return err
			}
			removed = true
		}
		if !removed {
			return errRollback
		}
		return putCounters(ob, count, total, dropped)
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

// OutboxStats returns the depth, size and drop count of the outbox.
func (s *Store) OutboxStats(ctx context.Context) (OutboxStats, error) {
	var st OutboxStats
	err := s.view(ctx, func(tx *bolt.Tx) error {
		ob := tx.Bucket(bucketOutbox)
		st = OutboxStats{
			Depth:   int(readU64(ob.Get(keyOutCount))),
			Bytes:   int64(readU64(ob.Get(keyOutBytes))),
			Dropped: readU64(ob.Get(keyOutDropped)),
		}
		return nil
	})
	return st, err
}

// encodeMessage lays m out as: format, QoS, flags, uvarint topic length, topic, payload.
func encodeMessage(m *Message) []byte {
	b := make([]byte, 0, messageHeadLen+binary.MaxVarintLen32+len(m.Topic)+len(m.Payload))
	var flags byte
	if m.Retain {
		flags |= flagRetain
	}
	b = append(b, messageFormat, m.QoS, flags)
	b = binary.AppendUvarint(b, uint64(len(m.Topic)))
	b = append(b, m.Topic...)
	return append(b, m.Payload...)
}

// decodeMessage copies out of v, which bbolt owns.
func decodeMessage(v []byte) (Message, error) {
	if len(v) < messageHeadLen || v[0] != messageFormat {
		return Message{}, fmt.Errorf("%w: unknown message format", ErrInvalid)
	}
	m := Message{QoS: v[1], Retain: v[2]&flagRetain != 0}
	n, w := binary.Uvarint(v[messageHeadLen:])
	rest := v[messageHeadLen:]
	if w <= 0 || n > uint64(len(rest)-w) {
		return Message{}, fmt.Errorf("%w: truncated message", ErrInvalid)
	}
	rest = rest[w:]
	m.Topic = string(rest[:n])
	m.Payload = append([]byte{}, rest[n:]...)
	return m, nil
}
