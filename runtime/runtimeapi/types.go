package runtimeapi

import (
	"io"
	"time"

	"github.com/outpost-edge/outpost/api"
)

// PodRef identifies a pod: where it came from, its name, and the uid the
// store minted when the pod was first accepted.
type PodRef struct {
	Source string
	Name   string
	UID    string
}

// StartRequest is one container to create and start in a pod's sandbox.
type StartRequest struct {
	Pod       *api.Pod
	Ref       PodRef
	Sandbox   *Sandbox
	Container *api.Container
	Init      bool
	// Attempt counts the container's starts in this pod (its restart count).
	Attempt int
}

// Started describes a started container.
type Started struct {
	ID        string
	PID       uint32
	StartedAt time.Time
	LogPath   string
	Image     string
	ImageID   string
	// Pulled is true when the image was pulled for this start.
	Pulled bool
}

// ExecRequest is a command to run in a running container.
type ExecRequest struct {
	Cmd    []string
	Stdin  io.Reader // nil: no stdin
	Stdout io.Writer // nil: discarded
	Stderr io.Writer // nil: discarded (ignored with TTY)
	TTY    bool
}

// State of an observed container's task.
const (
	StateCreated = "created" // container without a running task
	StateRunning = "running"
	StateExited  = "exited"
	StateUnknown = "unknown" // the task's shim cannot be reached
)

// Observed is a container the runtime finds in containerd, by its labels.
type Observed struct {
	ID        string
	Ref       PodRef
	Container string
	Init      bool
	SpecHash  string
	Attempt   int
	State     string
	PID       uint32
	StartedAt time.Time
	Exit      Exit // for StateExited
	LogPath   string
}

// Exit reasons, as Kubernetes reports them.
const (
	ReasonCompleted = "Completed"
	ReasonError     = "Error"
	ReasonOOMKilled = "OOMKilled"
	// ReasonShimDied is reported for a task whose shim disappeared: its exit
	// code is unknown.
	ReasonShimDied = "ShimDied"
)

// Exit is how a container ended.
type Exit struct {
	Code     int32
	Reason   string
	ExitedAt time.Time
}

// Event kinds.
const (
	EventExit = "exit"
	EventOOM  = "oom"
)

// Event is something that happened to a container's task.
type Event struct {
	Kind        string
	ContainerID string
	Exit        Exit // for EventExit
}
