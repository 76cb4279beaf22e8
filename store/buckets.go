package store

import "encoding/binary"

// Every bucket and key name of the file; doc.go draws the tree.
var (
	bucketMeta = []byte("meta")
	keySchema  = []byte("schema")

	bucketSources  = []byte("sources")
	keyGeneration  = []byte("generation")
	bucketPods     = []byte("pods")
	bucketUIDs     = []byte("uids")
	bucketServices = []byte("services")

	bucketStatus    = []byte("status")
	keyNodeStatus   = []byte("node")
	bucketPodStatus = []byte("pods")

	bucketEvents = []byte("events")

	bucketOutbox   = []byte("outbox")
	keyOutCount    = []byte("count")
	keyOutBytes    = []byte("bytes")
	keyOutDropped  = []byte("dropped")
	bucketMessages = []byte("messages")

	bucketAlloc     = []byte("alloc")
	bucketClusterIP = []byte("clusterip")
	keyNextIP       = []byte("next")
	bucketByName    = []byte("byname")
	bucketByAddr    = []byte("byaddr")
)

// topLevelBuckets are created by Open on a new file.
var topLevelBuckets = [][]byte{bucketMeta, bucketSources, bucketStatus, bucketEvents, bucketOutbox, bucketAlloc, bucketSession, bucketReclaim}

// podStatusKey joins source and name with a NUL: a valid source holds no NUL,
// so the first NUL splits the key unambiguously.
func podStatusKey(src Source, name string) []byte {
	k := make([]byte, 0, len(src)+1+len(name))
	k = append(k, src...)
	k = append(k, 0)
	return append(k, name...)
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// readU64 reads a big-endian counter; a missing or malformed value reads as 0.
func readU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// A source's content digest, added after schema 1 without a migration: a
// source stored by an older agent has none until its next document.
var keyDigest = []byte("digest")

// The broker session (session.go), added after schema 1 without a migration:
// createBuckets makes it on older files.
var bucketSession = []byte("session")

// The uids of pods found running after the store was lost (reclaim.go),
// added after schema 1 without a migration.
var bucketReclaim = []byte("reclaim")
