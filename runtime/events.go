package runtime

import (
	"context"
	"fmt"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/typeurl/v2"

	"github.com/outpost-edge/outpost/runtime/ctrd"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// Events streams task exits and OOM kills of outpost's containers until ctx
// is done. An OOM event marks the container so that its exit is reported as
// OOMKilled. The channel closes when ctx is done or the subscription fails;
// the caller resubscribes and lists to catch up.
func (r *Runtime) Events(ctx context.Context) <-chan runtimeapi.Event {
	out := make(chan runtimeapi.Event, 64)
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

func (r *Runtime) decode(any typeurl.Any) (runtimeapi.Event, bool) {
	v, err := typeurl.UnmarshalAny(any)
	if err != nil {
		return runtimeapi.Event{}, false
	}
	switch e := v.(type) {
	case *apievents.TaskOOM:
		r.mu.Lock()
		r.oom[e.ContainerID] = true
		r.mu.Unlock()
		return runtimeapi.Event{Kind: runtimeapi.EventOOM, ContainerID: e.ContainerID}, true
	case *apievents.TaskExit:
		if e.ID != e.ContainerID {
			return runtimeapi.Event{}, false // an exec process, not the container's init
		}
		at := time.Now()
		if e.ExitedAt != nil {
			at = e.ExitedAt.AsTime()
		}
		return runtimeapi.Event{Kind: runtimeapi.EventExit, ContainerID: e.ContainerID, Exit: r.peekExit(e.ContainerID, int32(e.ExitStatus), at)}, true
	}
	return runtimeapi.Event{}, false
}
