package agent

import (
	"context"
	"fmt"

	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// removeOrphanSandboxes removes the sandboxes (network namespace, address,
// volumes, cgroups) of the pods that are neither desired nor have a
// container: what an agent killed while removing a pod leaves behind, once
// the pod's containers are gone. Nothing else would ever find them, since
// the agent finds pods by their containers. It runs before any worker, so
// no sandbox is being made meanwhile.
func (a *Agent) removeOrphanSandboxes(ctx context.Context, observed map[string][]runtimeapi.Observed) error {
	merged, err := a.store.Desired(ctx)
	if err != nil {
		return fmt.Errorf("read desired state: %w", err)
	}
	keep := map[string]bool{}
	for _, dp := range merged.Pods {
		keep[dp.UID] = true
	}
	for uid := range observed {
		keep[uid] = true
	}
	return a.removeSandboxesBut(ctx, keep, a.keepLogs)
}

// removeSandboxesBut removes every sandbox whose uid keep does not hold.
func (a *Agent) removeSandboxesBut(ctx context.Context, keep map[string]bool, keepLogs bool) error {
	uids, err := a.rt.Sandboxes(ctx)
	if err != nil {
		return fmt.Errorf("list sandboxes: %w", err)
	}
	var errs []error
	for _, uid := range uids {
		if keep[uid] {
			continue
		}
		if err := a.rt.RemovePod(ctx, uid, keepLogs); err != nil {
			errs = append(errs, fmt.Errorf("pod %s: %w", uid, err))
			continue
		}
		a.log.Info().Str("uid", uid).Msg("removed the sandbox of a pod that has no container and is not wanted")
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove sandboxes: %v", errs)
	}
	return nil
}
