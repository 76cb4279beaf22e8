package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/outpost-edge/outpost/api"
	bolt "go.etcd.io/bbolt"
)

// PutPodStatus replaces the status snapshot of the pod st.Source/st.Name.
func (s *Store) PutPodStatus(ctx context.Context, st api.PodStatus) error {
	key, err := statusKey(Source(st.Source), st.Name)
	if err != nil {
		return fmt.Errorf("store: put pod status: %w", err)
	}
	data, err := json.Marshal(&st)
	if err != nil {
		return fmt.Errorf("store: put pod status %s/%s: %w: encode: %w", st.Source, st.Name, ErrInvalid, err)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStatus).Bucket(bucketPodStatus).Put(key, data)
	})
}

// PutPodStatuses stores several pods' status snapshots in one transaction
// (one fsync), as the agent's status manager flushes them.
func (s *Store) PutPodStatuses(ctx context.Context, sts []api.PodStatus) error {
	keys := make([][]byte, len(sts))
	vals := make([][]byte, len(sts))
	for i := range sts {
		key, err := statusKey(Source(sts[i].Source), sts[i].Name)
		if err != nil {
			return fmt.Errorf("store: put pod status: %w", err)
		}
		data, err := json.Marshal(&sts[i])
		if err != nil {
			return fmt.Errorf("store: put pod status %s/%s: %w: encode: %w", sts[i].Source, sts[i].Name, ErrInvalid, err)
		}
		keys[i], vals[i] = key, data
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketStatus).Bucket(bucketPodStatus)
		for i := range keys {
			if err := b.Put(keys[i], vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// PodStatus returns the status snapshot of one pod, or ErrNotFound.
func (s *Store) PodStatus(ctx context.Context, src Source, name string) (api.PodStatus, error) {
	var st api.PodStatus
	key, err := statusKey(src, name)
	if err != nil {
		return st, fmt.Errorf("store: pod status: %w", err)
	}
	err = s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketStatus).Bucket(bucketPodStatus).Get(key)
		if v == nil {
			return fmt.Errorf("store: pod status %s/%s: %w", src, name, ErrNotFound)
		}
		return decodeStatus(v, &st)
	})
	return st, err
}

// PodStatuses returns every stored pod status, ordered by source then name.
func (s *Store) PodStatuses(ctx context.Context) ([]api.PodStatus, error) {
	var out []api.PodStatus
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketStatus).Bucket(bucketPodStatus)
		return b.ForEach(func(k, v []byte) error {
			var st api.PodStatus
			if err := decodeStatus(v, &st); err != nil {
				return fmt.Errorf("store: pod status %q: %w", bytes.ReplaceAll(k, []byte{0}, []byte{'/'}), err)
			}
			out = append(out, st)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeletePodStatus forgets one pod's status; deleting a missing one does nothing.
func (s *Store) DeletePodStatus(ctx context.Context, src Source, name string) error {
	key, err := statusKey(src, name)
	if err != nil {
		return fmt.Errorf("store: delete pod status: %w", err)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStatus).Bucket(bucketPodStatus).Delete(key)
	})
}

// PutNodeStatus stores an opaque node-status blob, replacing the previous one.
func (s *Store) PutNodeStatus(ctx context.Context, blob []byte) error {
	if blob == nil {
		blob = []byte{}
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketStatus).Put(keyNodeStatus, blob)
	})
}

// NodeStatus returns a copy of the node-status blob, or ErrNotFound if none was stored.
func (s *Store) NodeStatus(ctx context.Context) ([]byte, error) {
	var out []byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketStatus).Get(keyNodeStatus)
		if v == nil {
			return fmt.Errorf("store: node status: %w", ErrNotFound)
		}
		out = bytes.Clone(v)
		if out == nil {
			out = []byte{}
		}
		return nil
	})
	return out, err
}

func statusKey(src Source, name string) ([]byte, error) {
	if err := src.Validate(); err != nil {
		return nil, err
	}
	if name == "" || len(name) > maxNameLen {
		return nil, fmt.Errorf("%w: pod name must have 1 to %d bytes", ErrInvalid, maxNameLen)
	}
	return podStatusKey(src, name), nil
}

func decodeStatus(v []byte, st *api.PodStatus) error {
	if err := json.Unmarshal(v, st); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}
