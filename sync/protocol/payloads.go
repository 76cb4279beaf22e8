package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/outpost-edge/outpost/api"
)

// Payload kinds of the status topic.
const (
	KindNodeReport = "NodeReport"
	KindHeartbeat  = "Heartbeat"
	KindSigned     = "Signed"
)

// Online is the payload of the online topic. The Last Will carries
// {"online":false,"node":...,"instance":...} with no time: the broker
// publishes it when the link is lost, long after the node could say when.
type Online struct {
	Online bool   `json:"online"`
	Node   string `json:"node"`
	// Instance is the device's instance id (random, drawn at its first
	// start): a message with another one than its own tells a node that
	// another device claims its name.
	Instance string `json:"instance,omitempty"`
	// NameConflict is the other instance id, once the node saw one: it
	// then applies no remote document and publishes no status.
	NameConflict string `json:"nameConflict,omitempty"`
	// Time is when the node connected or shut down.
	Time         *time.Time `json:"time,omitempty"`
	AgentVersion string     `json:"agentVersion,omitempty"`
	// Reason is "shutdown" on a clean stop; empty otherwise.
	Reason string `json:"reason,omitempty"`
}

// NodeReport is the retained status snapshot: everything the control plane
// needs to know about the node, complete in every message (a newer one
// replaces an older one; none is a diff).
type NodeReport struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Node       string `json:"node"`
	// Time is when the snapshot was taken.
	Time         time.Time `json:"time"`
	AgentVersion string    `json:"agentVersion,omitempty"`
	// Hash identifies the content (everything but the times); heartbeats repeat it.
	Hash string `json:"hash"`
	// ObservedGenerations holds the stored generation of every source
	// ("remote:node", "remote:group/<name>", "static").
	ObservedGenerations map[string]int64 `json:"observedGenerations"`
	// NodeStatus is absent until the agent first measured the node.
	NodeStatus *api.NodeStatus  `json:"nodeStatus,omitempty"`
	Pods       []api.PodStatus  `json:"pods"`
	Services   []ServiceSummary `json:"services"`
	// Conflicts lists names two sources both carry; the loser is not run.
	Conflicts []Conflict `json:"conflicts,omitempty"`
}

// ServiceSummary is one service of the merged desired state.
type ServiceSummary struct {
	Name      string `json:"name"`
	Source    string `json:"source"`
	ClusterIP string `json:"clusterIP,omitempty"`
}

// Conflict is a pod or service name carried by two sources.
type Conflict struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Winner string `json:"winner"`
	Loser  string `json:"loser"`
}

// Heartbeat is published on the status topic, not retained, when nothing
// changed for a heartbeat interval; the retained NodeReport stays in place.
//
// A heartbeat is sent 1440 times a day over links that may be metered, so it
// carries no apiVersion: the topic prefix (outpost/v1) already versions it,
// and kind tells it from a NodeReport.
type Heartbeat struct {
	Kind string    `json:"kind"`
	Node string    `json:"node"`
	Time time.Time `json:"time"`
	// Hash is the Hash of the NodeReport that still holds.
	Hash string `json:"hash"`
}

// EventPayload turns an outbox message into the wire payload of the events
// topic: the api.Event JSON object with "node" and "seq" added in front. seq
// is the outbox sequence number: it strictly increases per node, forever, so
// a consumer drops the duplicates QoS 1 allows by (node, seq).
func EventPayload(node string, seq uint64, event []byte) ([]byte, error) {
	event = bytes.TrimSpace(event)
	if len(event) < 2 || event[0] != '{' || !json.Valid(event) {
		return nil, fmt.Errorf("%w: event payload is not a JSON object", api.ErrInvalid)
	}
	nodeJSON, _ := json.Marshal(node)
	out := make([]byte, 0, len(event)+len(nodeJSON)+32)
	out = append(out, `{"node":`...)
	out = append(out, nodeJSON...)
	out = append(out, `,"seq":`...)
	out = strconv.AppendUint(out, seq, 10)
	rest := bytes.TrimSpace(event[1:])
	if rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...), nil
}

// Event is an event as the events topic carries it.
type Event struct {
	Node string `json:"node"`
	Seq  uint64 `json:"seq"`
	api.Event
}

// EventSeq reads the seq of an events-topic payload.
func EventSeq(payload []byte) (uint64, error) {
	var v struct {
		Seq *uint64 `json:"seq"`
	}
	if err := json.Unmarshal(payload, &v); err != nil {
		return 0, fmt.Errorf("%w: event payload: %w", api.ErrInvalid, err)
	}
	if v.Seq == nil {
		return 0, fmt.Errorf("%w: event payload has no seq", api.ErrInvalid)
	}
	return *v.Seq, nil
}
