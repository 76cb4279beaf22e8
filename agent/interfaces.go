package agent

import (
	"context"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
	"github.com/outpost-edge/outpost/store"
)

// Runtime is what the agent needs from the container runtime.
type Runtime interface {
	EnsureSandbox(ctx context.Context, pod *api.Pod, ref runtimeapi.PodRef) (*runtimeapi.Sandbox, error)
	StartContainer(ctx context.Context, req runtimeapi.StartRequest) (runtimeapi.Started, error)
	StopContainer(ctx context.Context, id string, grace time.Duration) (runtimeapi.Exit, error)
	RemoveContainer(ctx context.Context, id string) error
	RemovePod(ctx context.Context, uid string, keepLogs bool) error
	Sandboxes(ctx context.Context) ([]string, error)
	List(ctx context.Context) ([]runtimeapi.Observed, error)
	Events(ctx context.Context) <-chan runtimeapi.Event
	Exec(ctx context.Context, id string, req runtimeapi.ExecRequest) (int, error)
}

// Store is what the agent needs from the store.
type Store interface {
	Desired(ctx context.Context) (*store.Merged, error)
	Watch(ctx context.Context) <-chan struct{}
	PutPodStatuses(ctx context.Context, sts []api.PodStatus) error
	PodStatuses(ctx context.Context) ([]api.PodStatus, error)
	DeletePodStatus(ctx context.Context, src store.Source, name string) error
	RecordEvent(ctx context.Context, ev api.Event) error
}
