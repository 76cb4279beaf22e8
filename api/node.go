package api

import "time"

// Node condition types and the resources a node accounts for.
const (
	NodeReady          = "Ready"
	NodeMemoryPressure = "MemoryPressure"
	NodeDiskPressure   = "DiskPressure"
	NodePIDPressure    = "PIDPressure"
	// NodeStoreCorrupted is True while the agent runs on a new state file
	// because it found the old one corrupt (the node's desired state was
	// rebuilt from the manifests, the running containers and the broker).
	NodeStoreCorrupted = "StoreCorrupted"
	// NodeNameConflict is True once the node saw another device (another
	// instance id) claim its name: it then applies no remote document and
	// publishes no status under that name until restarted.
	NodeNameConflict = "NodeNameConflict"

	ResourceEphemeralStorage = "ephemeral-storage"
	ResourcePods             = "pods"
)

// Condition statuses.
const (
	ConditionTrue    = "True"
	ConditionFalse   = "False"
	ConditionUnknown = "Unknown"
)

// NodeStatus is what the node reports about itself, shaped like Kubernetes'.
type NodeStatus struct {
	Name        string          `json:"name"`
	Capacity    ResourceList    `json:"capacity"`
	Allocatable ResourceList    `json:"allocatable"`
	Conditions  []NodeCondition `json:"conditions"`
	Addresses   []NodeAddress   `json:"addresses,omitempty"`
	NodeInfo    NodeInfo        `json:"nodeInfo"`
	// Time is when this status was computed.
	Time time.Time `json:"time"`
}

// NodeCondition is one condition of the node ("True"/"False"/"Unknown").
type NodeCondition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	Reason             string    `json:"reason,omitempty"`
	Message            string    `json:"message,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// NodeAddress is one address of the node (InternalIP, Hostname).
type NodeAddress struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

// NodeInfo describes the machine and the software on it.
type NodeInfo struct {
	Architecture      string `json:"architecture"`
	OperatingSystem   string `json:"operatingSystem"`
	OSImage           string `json:"osImage,omitempty"`
	KernelVersion     string `json:"kernelVersion"`
	AgentVersion      string `json:"agentVersion"`
	ContainerdVersion string `json:"containerdVersion"`
	BootID            string `json:"bootID,omitempty"`
	MachineID         string `json:"machineID,omitempty"`
	CgroupVersion     int    `json:"cgroupVersion,omitempty"`
	// InstanceID is drawn at random at the agent's first start and kept in
	// its data dir: two devices claiming one node name have different ones.
	InstanceID string `json:"instanceID,omitempty"`
	// PublicKey is the base64 of the node's own ed25519 public key,
	// generated at first start beside the instance id.
	PublicKey string `json:"publicKey,omitempty"`
}
