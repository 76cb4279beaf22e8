package runtime

import (
	"context"
	"fmt"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/typeurl/v2"

	"github.com/outpost-edge/outpost/runtime/ctrd"
)

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

// Events streams task exits and OOM kills of outpost's containers until ctx
// is done. An OOM event marks the container so that its exit is reported as
// OOMKilled. The channel closes when ctx is done or the subscription fails;
// the caller resubscribes and lists to catch up.
func (r *Runtime) Events(ctx context.Context) <-chan Event {
	out := make(chan Event, 64)
	envs, errs := r.client.EventService().Subscribe(r.ctx(ctx),
		fmt.Sprintf(`namespace==%s,topic=="/tasks/exit"`, ctrd.Namespace),
		fmt.Sprintf(`namespace==%s,topic=="/tasks/oom"`, ctrd.Namespace))
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-errs:
				if err != nil && ctx.Err() == nil {
					r.log.Warn().Err(err).Msg("task event subscription ended")
				}
				return
			case env := <-envs:
				ev, ok := r.decode(env.Event)
				if !ok {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

func (r *Runtime) decode(any typeurl.Any) (Event, bool) {
	v, err := typeurl.UnmarshalAny(any)
	if err != nil {
		return Event{}, false
	}
	switch e := v.(type) {
	case *apievents.TaskOOM:
		r.mu.Lock()
		r.oom[e.ContainerID] = true
		r.mu.Unlock()
		return Event{Kind: EventOOM, ContainerID: e.ContainerID}, true
	case *apievents.TaskExit:
		if e.ID != e.ContainerID {
			return Event{}, false // an exec process, not the container's init
		}
		at := time.Now()
		if e.ExitedAt != nil {
			at = e.ExitedAt.AsTime()
		}
		return Event{Kind: EventExit, ContainerID: e.ContainerID, Exit: r.peekExit(e.ContainerID, int32(e.ExitStatus), at)}, true
	}
	return Event{}, false
}
