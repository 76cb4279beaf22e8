package api

// NodeState is the desired state of one source: the document the control
// plane publishes for a node or a group, and what a static manifest directory
// amounts to.
type NodeState struct {
	TypeMeta   `json:",inline"`
	Generation int64     `json:"generation"`
	Pods       []Pod     `json:"pods,omitempty"`
	Services   []Service `json:"services,omitempty"`
}
