package api

// NodeState is the desired state of one source: the document the control
// plane publishes for a node or a group, and what a static manifest directory
// amounts to.
type NodeState struct {
	TypeMeta   `json:",inline"`
	Generation int64 `json:"generation"`
	// ResetFrom, when set, lets this document replace a source whose stored
	// generation is exactly ResetFrom even though Generation is lower: the
	// way out for a node stuck at a generation nothing can follow. A node
	// honours it only in a document signed by a trusted key
	// (docs/protocol.md, "Generation reset").
	ResetFrom int64     `json:"resetFrom,omitempty"`
	Pods      []Pod     `json:"pods,omitempty"`
	Services  []Service `json:"services,omitempty"`
}
