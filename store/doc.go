// Package store is the agent's memory: everything Outpost must still know
// after a reboot lives in one bbolt file (state.db), and every other package
// reaches it through this one.
//
// It owns:
//   - the desired state per source (the control plane's node document, one
//     document per group, the static manifest directory), each with its
//     generation, and the merged view the agent reconciles against;
//   - the uid of every accepted pod;
//   - the latest status snapshot per pod and a node-status blob;
//   - a bounded ring of recent events;
//   - the outbox: messages waiting for the link to the broker;
//   - allocations that must not move, such as service cluster IPs.
//
// It knows bbolt and api, nothing else; it does not validate specs (the caller
// does, with api, before Apply) beyond what it needs for its keys.
//
// # Bucket tree
//
// All names are declared in buckets.go.
//
//	meta/
//	    schema                  -> uint64 big-endian, the schema version (1)
//	sources/
//	    <source>/               "remote:node", "remote:group/<name>", "static"
//	        generation          -> int64 big-endian
//	        digest              -> sha256 of the pods and services (absent in older files)
//	        pods/
//	            <name>          -> api.Pod as JSON
//	        uids/
//	            <name>          -> uid of the pod, 32 hex digits
//	        services/
//	            <name>          -> api.Service as JSON
//	status/
//	    node                    -> opaque node-status blob
//	    pods/
//	        <source>\x00<name>  -> api.PodStatus as JSON
//	events/                     ring of recent events, oldest first
//	    <seq>                   -> api.Event as JSON (seq: uint64 big-endian)
//	outbox/
//	    count                   -> uint64 big-endian, messages queued
//	    bytes                   -> uint64 big-endian, sum of stored message sizes
//	    dropped                 -> uint64 big-endian, messages dropped since creation
//	    messages/               queue, oldest first; the bucket sequence numbers pushes
//	        <seq>               -> encoded Message (uint64 big-endian key)
//	alloc/
//	    clusterip/
//	        next                -> 16-byte address where the next search starts
//	        byname/
//	            <service>       -> 16-byte address (IPv4 in its IPv4-mapped form)
//	        byaddr/
//	            <16-byte addr>  -> service name
//	session/                    the MQTT client's in-flight packets (sync/mqttlink)
//	    <key>                   -> uint64 big-endian insertion order, then the packet's bytes
//	reclaim/                    pods found running after a corrupt file was moved aside (reclaim.go)
//	    <source>\x00<name>      -> uid from the containers' labels, until the source sends a document
//
// # Merge order
//
// The merged view (Store.Desired) takes every pod and service of every source.
// When two sources carry the same name, the first source in this order wins
// and the clash is reported as a Conflict:
//
//  1. remote:node, the document addressed to this node alone;
//  2. remote:group/<name>, in the order of Options.Groups, then groups not
//     listed there in lexical order;
//  3. static, the local manifest directory, last.
//
// Pods and services are separate name spaces.
//
// # Transactions
//
// Every exported method is one bbolt transaction, run through the view and
// update helpers in store.go; transactions never nest and do no I/O other
// than bbolt's. bbolt has a single writer, so they stay short.
//
// # A damaged file
//
// bbolt trusts its file: a damaged page makes it panic. Open checks an
// existing file first (check.go) and refuses a corrupt one with ErrCorrupt,
// or moves it aside and starts empty (Options.MoveCorrupt, recover.go). Every
// transaction runs under guard: a panic becomes ErrCorrupt, the store stops
// using the file (Corrupted) and leaves a marker so the next Open moves it
// aside. Pods found running get their uid back through Reclaim (reclaim.go).
package store
