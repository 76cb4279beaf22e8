package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
	"github.com/outpost-edge/outpost/store"
)

// ReasonStoreCorrupted is the event of a corrupt state file moved aside.
const ReasonStoreCorrupted = "StoreCorrupted"

// lister is what rebuilding needs from the runtime.
type lister interface {
	List(ctx context.Context) ([]runtimeapi.Observed, error)
}

// rebuildStore runs after Open moved a corrupt state file aside: it reports
// the loss (a Warning event, queued for the control plane too) and hands the
// pods found running to the store, so that they keep their uid and are
// adopted when their source sends them again (the manifest directory at
// once, the broker's retained documents once the link is up). Only pods of
// sources this node still takes are reclaimed: others would never come
// back and are stopped as after any restart.
func rebuildStore(ctx context.Context, st *store.Store, rt lister, takes func(store.Source) bool, log zerolog.Logger) error {
	rec := st.Recovered()
	if rec == nil {
		return nil
	}
	obs, err := rt.List(ctx)
	if err != nil {
		return fmt.Errorf("listing containers to rebuild the store: %w", err)
	}
	var pods []store.ReclaimedPod
	for _, o := range obs {
		p := store.ReclaimedPod{Source: store.Source(o.Ref.Source), Name: o.Ref.Name, UID: o.Ref.UID}
		if p.Source.Validate() != nil || !takes(p.Source) || slices.Contains(pods, p) {
			continue
		}
		pods = append(pods, p)
	}
	if err := st.Reclaim(ctx, pods); err != nil {
		return err
	}
	msg := fmt.Sprintf("the state file was corrupt (%v): moved to %s; started with an empty one, %d running pods kept",
		rec.Cause, rec.Aside, len(pods))
	log.Warn().Str("movedTo", rec.Aside).Int("pods", len(pods)).Msg("state file rebuilt: desired state comes back from the manifests and the control plane")
	ev := api.Event{Type: api.EventWarning, Reason: ReasonStoreCorrupted, Object: "node", Message: msg, Time: time.Now().UTC()}
	if err := st.RecordEvent(ctx, ev); err != nil {
		log.Error().Err(err).Msg("recording event")
	}
	return nil
}

// takesSource says which sources the agent receives documents from.
func takesSource(mqtt bool, groups []string) func(store.Source) bool {
	return func(src store.Source) bool {
		if src == store.SourceStatic {
			return true
		}
		if g, ok := src.Group(); ok {
			return mqtt && slices.Contains(groups, g)
		}
		return mqtt && src == store.SourceNode
	}
}

// storeCondition is the node condition saying whether the agent runs on a
// state file it rebuilt; it stays True until the agent restarts.
func storeCondition(rec *store.Recovery, began time.Time) api.NodeCondition {
	if rec == nil {
		return api.NodeCondition{Type: api.NodeStoreCorrupted, Status: api.ConditionFalse, Reason: "StoreSound",
			Message: "the state file passed its check at start", LastTransitionTime: began.UTC()}
	}
	return api.NodeCondition{Type: api.NodeStoreCorrupted, Status: api.ConditionTrue, Reason: ReasonStoreCorrupted,
		Message:            fmt.Sprintf("the state file was corrupt and was moved to %s; desired state was rebuilt", rec.Aside),
		LastTransitionTime: rec.Found.UTC()}
}
