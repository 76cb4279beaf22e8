package agent

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Drain stops every pod on the node with its grace period and removes its
// containers and sandbox (also the sandbox of a pod with no container), without running the reconcile loop: for
// maintenance or before powering a device off. The desired state is kept,
// so the next `outpost agent` starts the pods again.
func (a *Agent) Drain(ctx context.Context) error {
	obs, err := a.rt.List(ctx)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	grace := map[string]time.Duration{}
	if merged, err := a.store.Desired(ctx); err == nil {
		for _, dp := range merged.Pods {
			grace[dp.UID] = gracePeriod(&dp.Pod)
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for uid, ctrs := range groupByUID(obs) {
		g, ok := grace[uid]
		if !ok {
			g = a.defaultGrace
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := ctrs[0].Ref.Name
			a.rec.normal(ctx, "pod/"+name, ReasonKilling, "draining the node: stopping the pod (grace period %v)", g)
			// The pod's containers stop together: a pod takes its grace
			// period once, not once per container.
			var stops sync.WaitGroup
			for _, c := range ctrs {
				stops.Add(1)
				go func() {
					defer stops.Done()
					if _, err := a.rt.StopContainer(ctx, c.ID, g); err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("pod %s: stop %s: %w", name, c.Container, err))
						mu.Unlock()
					}
				}()
			}
			stops.Wait()
			for _, c := range ctrs {
				a.rt.RemoveContainer(ctx, c.ID)
			}
			if err := a.rt.RemovePod(ctx, uid, true); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("pod %s: %w", name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Pods without a container still have their sandbox: one whose
	// container never started keeps its netns, address and volumes.
	drained := map[string]bool{}
	for uid := range groupByUID(obs) {
		drained[uid] = true
	}
	if err := a.removeSandboxesBut(ctx, drained, true); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("drain: %v", errs)
	}
	return nil
}
