// Package api holds Outpost's spec and wire types: the Kubernetes core/v1
// subset a node runs (Pod, Service), the NodeState document the control plane
// sends, the status and event types the node reports, and the strict decoding,
// defaulting, validation and spec hashing that every other package relies on.
//
// It is a leaf: it imports nothing from the rest of the module.
package api
