package store

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// A pod's uid is minted by the store when its source first sends it, and
// every container of the pod carries it as a label. When the store is lost
// (a corrupt file moved aside) the pods are still running: the agent hands
// their identities to Reclaim, and Apply gives each pod its old uid back
// when its source sends it again, so the agent adopts its containers instead
// of starting a second copy. Until its source has sent a document, a
// reclaimed pod is listed in Merged.Reclaimed: the agent leaves it running.

// ReclaimedPod is a pod found running whose source has not sent it since
// the store was lost.
type ReclaimedPod struct {
	Source Source
	Name   string
	UID    string
}

// Reclaim remembers the uids of pods found running. A pod whose source has
// a document already is left out (the document decides), and so is one
// that is already remembered.
func (s *Store) Reclaim(ctx context.Context, pods []ReclaimedPod) error {
	for _, p := range pods {
		if err := p.Source.Validate(); err != nil {
			return fmt.Errorf("store: reclaim %q: %w", p.Name, err)
		}
		if p.Name == "" || len(p.Name) > maxNameLen || p.UID == "" || len(p.UID) > maxNameLen {
			return fmt.Errorf("store: reclaim %s %q: %w: name and uid must have 1 to %d bytes", p.Source, p.Name, ErrInvalid, maxNameLen)
		}
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReclaim)
		sources := tx.Bucket(bucketSources)
		for _, p := range pods {
			key := podStatusKey(p.Source, p.Name)
			if sources.Bucket([]byte(p.Source)) != nil || b.Get(key) != nil {
				continue
			}
			if err := b.Put(key, []byte(p.UID)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.desiredWatch.wake()
	return nil
}

// reclaimedUID returns the uid remembered for src's pod name, or "".
func reclaimedUID(tx *bolt.Tx, src Source, name string) string {
	return string(tx.Bucket(bucketReclaim).Get(podStatusKey(src, name)))
}

// forgetReclaimed drops what is remembered for src: its document has come,
// and a pod it does not carry is gone for good.
func forgetReclaimed(tx *bolt.Tx, src Source) error {
	b := tx.Bucket(bucketReclaim)
	prefix := podStatusKey(src, "")
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// reclaimedPods lists what is remembered, in key order.
func reclaimedPods(tx *bolt.Tx) []ReclaimedPod {
	var out []ReclaimedPod
	_ = tx.Bucket(bucketReclaim).ForEach(func(k, v []byte) error {
		src, name, ok := bytes.Cut(k, []byte{0})
		if ok {
			out = append(out, ReclaimedPod{Source: Source(src), Name: string(name), UID: string(v)})
		}
		return nil
	})
	return out
}
