package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
	"github.com/outpost-edge/outpost/store"
)

// Backend is what the server reads and asks for. StoreBackend implements it
// over the store, the runtime and the static source.
type Backend interface {
	// Desired is the merged view, with every source's generation.
	Desired(ctx context.Context) (*store.Merged, error)
	PodStatuses(ctx context.Context) ([]api.PodStatus, error)
	RecentEvents(ctx context.Context, object string, limit int) ([]api.Event, error)
	// NodeStatus fails with an error wrapping ErrNotFound before the first report.
	NodeStatus(ctx context.Context) (api.NodeStatus, error)
	ClusterIPs(ctx context.Context) (map[string]netip.Addr, error)
	OutboxStats(ctx context.Context) (store.OutboxStats, error)
	LinkState(ctx context.Context) (LinkState, error)
	// Containers lists the containers the runtime runs for pods.
	Containers(ctx context.Context) ([]runtimeapi.Observed, error)
	Exec(ctx context.Context, containerID string, req runtimeapi.ExecRequest) (int, error)
	// ApplyStatic validates manifest bytes and makes them part of the static
	// source; an invalid manifest fails with an error wrapping api.ErrInvalid.
	ApplyStatic(ctx context.Context, data []byte) (ApplySummary, error)
	// DeleteStaticPod removes a pod from the static source, or fails with an
	// error wrapping ErrNotFound.
	DeleteStaticPod(ctx context.Context, name string) (ApplySummary, error)
}

// Containers is what StoreBackend needs from the runtime.
type Containers interface {
	List(ctx context.Context) ([]runtimeapi.Observed, error)
	Exec(ctx context.Context, id string, req runtimeapi.ExecRequest) (int, error)
}

// StaticSource changes the static source; ManifestDir implements it.
type StaticSource interface {
	Apply(ctx context.Context, data []byte) (ApplySummary, error)
	DeletePod(ctx context.Context, name string) (ApplySummary, error)
}

// StoreBackend is the Backend of a running agent. Store is required; a nil
// Runtime or Static makes the endpoints that need it answer 503, and a nil
// Link reports the link as not configured.
type StoreBackend struct {
	Store   *store.Store
	Runtime Containers
	Static  StaticSource
	// Link reports the broker link (the sync package fills it in).
	Link func(ctx context.Context) LinkState
}

var _ Backend = (*StoreBackend)(nil)

func (b *StoreBackend) Desired(ctx context.Context) (*store.Merged, error) {
	return b.Store.Desired(ctx)
}

func (b *StoreBackend) PodStatuses(ctx context.Context) ([]api.PodStatus, error) {
	return b.Store.PodStatuses(ctx)
}

func (b *StoreBackend) RecentEvents(ctx context.Context, object string, limit int) ([]api.Event, error) {
	return b.Store.RecentEvents(ctx, object, limit)
}

// NodeStatus decodes the store's node-status blob, which the agent writes as
// an api.NodeStatus in JSON.
func (b *StoreBackend) NodeStatus(ctx context.Context) (api.NodeStatus, error) {
	var ns api.NodeStatus
	blob, err := b.Store.NodeStatus(ctx)
	if err != nil {
		return ns, err
	}
	if err := json.Unmarshal(blob, &ns); err != nil {
		return ns, fmt.Errorf("node status: decode: %w", err)
	}
	return ns, nil
}

func (b *StoreBackend) ClusterIPs(ctx context.Context) (map[string]netip.Addr, error) {
	return b.Store.ClusterIPs(ctx)
}

func (b *StoreBackend) OutboxStats(ctx context.Context) (store.OutboxStats, error) {
	return b.Store.OutboxStats(ctx)
}

func (b *StoreBackend) LinkState(ctx context.Context) (LinkState, error) {
	st, err := b.Store.OutboxStats(ctx)
	if err != nil {
		return LinkState{}, err
	}
	ls := LinkState{State: LinkNotConfigured}
	if b.Link != nil {
		ls = b.Link(ctx)
	}
	ls.OutboxDepth = st.Depth
	return ls, nil
}

var errNoRuntime = fmt.Errorf("%w: the container runtime is not running", ErrUnavailable)

func (b *StoreBackend) Containers(ctx context.Context) ([]runtimeapi.Observed, error) {
	if b.Runtime == nil {
		return nil, errNoRuntime
	}
	return b.Runtime.List(ctx)
}

func (b *StoreBackend) Exec(ctx context.Context, containerID string, req runtimeapi.ExecRequest) (int, error) {
	if b.Runtime == nil {
		return -1, errNoRuntime
	}
	return b.Runtime.Exec(ctx, containerID, req)
}

var errNoStatic = errors.New("no manifest directory is configured (manifestDir)")

func (b *StoreBackend) ApplyStatic(ctx context.Context, data []byte) (ApplySummary, error) {
	if b.Static == nil {
		return ApplySummary{}, fmt.Errorf("%w: %w", ErrUnavailable, errNoStatic)
	}
	return b.Static.Apply(ctx, data)
}

func (b *StoreBackend) DeleteStaticPod(ctx context.Context, name string) (ApplySummary, error) {
	if b.Static == nil {
		return ApplySummary{}, fmt.Errorf("%w: %w", ErrUnavailable, errNoStatic)
	}
	return b.Static.DeletePod(ctx, name)
}
