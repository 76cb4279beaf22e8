package api

// Version strings accepted in documents.
const (
	// GroupVersion is the apiVersion of Outpost's own kinds (NodeState, Signed).
	GroupVersion = "outpost.dev/v1"
	// CoreVersion is the apiVersion of Kubernetes core kinds (Pod, Service).
	CoreVersion = "v1"

	KindNodeState = "NodeState"
	KindPod       = "Pod"
	KindService   = "Service"
)

// TypeMeta is the apiVersion/kind pair at the head of every document.
type TypeMeta struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// ObjectMeta is the part of Kubernetes' metadata a node needs.
type ObjectMeta struct {
	Name string `json:"name"`
	// Namespace is accepted so that existing manifests work; a node runs a
	// single namespace, so it only takes part in validation.
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}
