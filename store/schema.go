package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// schemaVersion is the layout this code reads and writes (see doc.go).
const schemaVersion uint64 = 1

// migrations[n] upgrades a file from schema n to n+1. They run in order, in
// the opening transaction, so a crash mid-way leaves the old version intact.
var migrations = map[uint64]func(tx *bolt.Tx) error{}

// migrate brings the file to version target and returns the version it found
// (target for a new file). It refuses files from a newer Outpost and bbolt
// files that are not Outpost state files.
func migrate(tx *bolt.Tx, path string, target uint64, steps map[uint64]func(tx *bolt.Tx) error) (uint64, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if !empty {
			return 0, fmt.Errorf("store: %s: %w: a bbolt file without outpost's meta bucket; not an outpost state file", path, ErrInvalid)
		}
		if err := createBuckets(tx); err != nil {
			return 0, err
		}
		return target, tx.Bucket(bucketMeta).Put(keySchema, u64(target))
	}
	raw := meta.Get(keySchema)
	if len(raw) != 8 {
		return 0, fmt.Errorf("store: %s: %w: %w: schema version is unreadable (%d bytes)", path, ErrInvalid, ErrCorrupt, len(raw))
	}
	found := readU64(raw)
	if found > target {
		return found, fmt.Errorf("store: %s has schema %d, this outpost understands up to %d: %w: downgrade is not supported, upgrade outpost or move the file away",
			path, found, target, ErrNewerSchema)
	}
	if found == 0 {
		return found, fmt.Errorf("store: %s: %w: %w: schema version 0", path, ErrInvalid, ErrCorrupt)
	}
	for v := found; v < target; v++ {
		step, ok := steps[v]
		if !ok {
			return found, fmt.Errorf("store: %s: no migration from schema %d to %d", path, v, v+1)
		}
		if err := step(tx); err != nil {
			return found, fmt.Errorf("store: %s: migrate schema %d to %d: %w", path, v, v+1, err)
		}
		if err := meta.Put(keySchema, u64(v+1)); err != nil {
			return found, err
		}
	}
	// Buckets added by a later schema without a migration of their own
	// appear empty on older files.
	return found, createBuckets(tx)
}

func createBuckets(tx *bolt.Tx) error {
	for _, name := range topLevelBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("store: create bucket %s: %w", name, err)
		}
	}
	st := tx.Bucket(bucketStatus)
	if _, err := st.CreateBucketIfNotExists(bucketPodStatus); err != nil {
		return err
	}
	if _, err := tx.Bucket(bucketOutbox).CreateBucketIfNotExists(bucketMessages); err != nil {
		return err
	}
	ip, err := tx.Bucket(bucketAlloc).CreateBucketIfNotExists(bucketClusterIP)
	if err != nil {
		return err
	}
	if _, err := ip.CreateBucketIfNotExists(bucketByName); err != nil {
		return err
	}
	_, err = ip.CreateBucketIfNotExists(bucketByAddr)
	return err
}
