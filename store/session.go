package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The session bucket holds the MQTT client's in-flight packets (a QoS 1
// publish until its PUBACK, a received publish until it is acknowledged),
// so they survive a restart. The store treats them as opaque bytes under
// opaque keys; sync/mqttlink encodes them. Each value starts with an
// insertion counter so SessionKeys can return the keys in the order they
// were first put: the client resends in that order after a reconnect.

// maxSessionKey bounds a session key; the client's keys are "o.65535" at most.
const maxSessionKey = 64

// SessionEntry is one stored packet.
type SessionEntry struct {
	Key  string
	Data []byte
}

// SessionPut stores data under key, keeping the key's original position when
// it is replaced.
func (s *Store) SessionPut(ctx context.Context, key string, data []byte) error {
	if key == "" || len(key) > maxSessionKey {
		return fmt.Errorf("store: session put: %w: key must have 1 to %d bytes", ErrInvalid, maxSessionKey)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSession)
		var order uint64
		if old := b.Get([]byte(key)); len(old) >= 8 {
			order = binary.BigEndian.Uint64(old)
		} else {
			var err error
			if order, err = b.NextSequence(); err != nil {
				return err
			}
		}
		v := make([]byte, 8, 8+len(data))
		binary.BigEndian.PutUint64(v, order)
		return b.Put([]byte(key), append(v, data...))
	})
}

// SessionGet returns a copy of the packet under key, or ErrNotFound.
func (s *Store) SessionGet(ctx context.Context, key string) ([]byte, error) {
	var out []byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSession).Get([]byte(key))
		if len(v) < 8 {
			return fmt.Errorf("store: session %q: %w", key, ErrNotFound)
		}
		out = bytes.Clone(v[8:])
		return nil
	})
	return out, err
}

// SessionEntries returns every stored packet in the order the keys were first put.
func (s *Store) SessionEntries(ctx context.Context) ([]SessionEntry, error) {
	type ordered struct {
		order uint64
		e     SessionEntry
	}
	var all []ordered
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSession).ForEach(func(k, v []byte) error {
			if len(v) < 8 {
				return nil // cannot happen: SessionPut always writes the counter
			}
			all = append(all, ordered{binary.BigEndian.Uint64(v), SessionEntry{Key: string(k), Data: bytes.Clone(v[8:])}})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b ordered) int { return cmp.Compare(a.order, b.order) })
	out := make([]SessionEntry, len(all))
	for i, o := range all {
		out[i] = o.e
	}
	return out, nil
}

// SessionDelete forgets key; deleting a missing key does nothing (and does not commit).
func (s *Store) SessionDelete(ctx context.Context, key string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSession)
		if b.Get([]byte(key)) == nil {
			return errRollback
		}
		return b.Delete([]byte(key))
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

// SessionReset forgets every stored packet.
func (s *Store) SessionReset(ctx context.Context) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketSession); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
			return err
		}
		_, err := tx.CreateBucket(bucketSession)
		return err
	})
}
