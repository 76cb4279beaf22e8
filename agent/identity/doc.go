// Package identity is who the device is: the node name it claims (the rule
// that derives a unique one when the operator sets none), the ed25519 key
// pair it generates at first start and the random instance id that tells
// two devices claiming one name apart. It reads the machine through an
// fs.FS (the real root, or fake files in tests) and keeps its own files
// under the data directory; cmd/outpost reads it at start and hands the
// results to the parts that report them.
package identity
