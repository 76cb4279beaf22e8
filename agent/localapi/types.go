package localapi

import (
	"time"

	"github.com/outpost-edge/outpost/api"
)

// PodInfo is one pod as the node sees it: its desired spec (absent for a pod
// that left the desired state and is still being stopped) and its last
// status (absent before the agent first reported it).
type PodInfo struct {
	Source string         `json:"source"`
	UID    string         `json:"uid,omitempty"`
	Pod    *api.Pod       `json:"pod,omitempty"`
	Status *api.PodStatus `json:"status,omitempty"`
}

// Name is the pod's name, from its spec or its status.
func (p *PodInfo) Name() string {
	if p.Pod != nil {
		return p.Pod.Metadata.Name
	}
	if p.Status != nil {
		return p.Status.Name
	}
	return ""
}

// PodList is the body of GET /v1/pods, sorted by name.
type PodList struct {
	Node  string    `json:"node,omitempty"`
	Items []PodInfo `json:"items"`
}

// PodDetail is the body of GET /v1/pods/{name}.
type PodDetail struct {
	PodInfo
	Node string `json:"node,omitempty"`
	// Events are the pod's most recent events, oldest first.
	Events []api.Event `json:"events"`
}

// ServiceInfo is one service of the merged view. Its spec's clusterIP is the
// allocated address when the manifest left it out.
type ServiceInfo struct {
	Source  string      `json:"source"`
	Service api.Service `json:"service"`
	// Endpoints counts the pods behind the service, when routing is on.
	Endpoints *EndpointCount `json:"endpoints,omitempty"`
}

// EndpointCount is how many of a service's endpoints are ready.
type EndpointCount struct {
	Ready int `json:"ready"`
	Total int `json:"total"`
}

// ServiceList is the body of GET /v1/services, sorted by name.
type ServiceList struct {
	Items []ServiceInfo `json:"items"`
}

// NodeView is the body of GET /v1/node.
type NodeView struct {
	Name string `json:"name"`
	// Status is the node's last reported status, nil before the first report.
	Status *api.NodeStatus `json:"status,omitempty"`
	// AgentStarted is when this agent process started.
	AgentStarted time.Time `json:"agentStarted"`
}

// LinkState describes the link to the control plane's broker.
type LinkState struct {
	// State is "connected", "disconnected", "connecting" or "not configured".
	State       string    `json:"state"`
	LastConnect time.Time `json:"lastConnect,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	OutboxDepth int       `json:"outboxDepth"`
}

// LinkNotConfigured is the State of a node with no broker configured.
const LinkNotConfigured = "not configured"

// PodCounts counts the pods of the merged view by phase.
type PodCounts struct {
	Total   int            `json:"total"`
	Ready   int            `json:"ready"`
	ByPhase map[string]int `json:"byPhase"`
}

// StatusView is the body of GET /v1/status: the node at a glance.
type StatusView struct {
	Node NodeView  `json:"node"`
	Link LinkState `json:"link"`
	// Generations holds the stored generation of every source.
	Generations map[string]int64 `json:"generations"`
	Outbox      OutboxView       `json:"outbox"`
	Pods        PodCounts        `json:"pods"`
	Services    int              `json:"services"`
	// Conflicts are names carried by two sources; the loser does not run.
	Conflicts []ConflictView `json:"conflicts,omitempty"`
}

// OutboxView describes the messages waiting for the link.
type OutboxView struct {
	Depth   int    `json:"depth"`
	Bytes   int64  `json:"bytes"`
	Dropped uint64 `json:"dropped"`
}

// ConflictView is a name two sources carry: Winner's runs, Loser's does not.
type ConflictView struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Winner string `json:"winner"`
	Loser  string `json:"loser"`
}

// EventList is the body of GET /v1/events, oldest first.
type EventList struct {
	Items []api.Event `json:"items"`
}

// Change is what an apply or delete did to one object.
type Change struct {
	// Kind is "pod" or "service".
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Action is "created", "configured", "unchanged" or "deleted".
	Action string `json:"action"`
	// File is the manifest file written or changed.
	File string `json:"file,omitempty"`
}

// Actions of a Change.
const (
	ActionCreated    = "created"
	ActionConfigured = "configured"
	ActionUnchanged  = "unchanged"
	ActionDeleted    = "deleted"
)

// ApplySummary is the body of POST /v1/apply and DELETE /v1/pods/{name}.
type ApplySummary struct {
	Changes []Change `json:"changes"`
}
