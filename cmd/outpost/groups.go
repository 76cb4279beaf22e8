package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
)

// ReasonGroupLeft is the event of a group's desired state removed because
// the node's configuration no longer lists the group.
const ReasonGroupLeft = "GroupLeft"

// leaveGroups removes the desired state of every group the store holds and
// groups does not list: a node moved from one group to another stops the
// old group's pods and services, even when it boots without a network. The
// generation goes with it, so rejoining later takes the group's document
// again whatever its generation.
func leaveGroups(ctx context.Context, st *store.Store, groups []string, log zerolog.Logger) error {
	gens, err := st.Generations(ctx)
	if err != nil {
		return err
	}
	for src, gen := range gens {
		g, ok := src.Group()
		if !ok || slices.Contains(groups, g) {
			continue
		}
		if err := st.DeleteSource(ctx, src); err != nil {
			return fmt.Errorf("leave group %s: %w", g, err)
		}
		msg := fmt.Sprintf("group %s is no longer in the node's groups: its pods and services (generation %d) are removed", g, gen)
		log.Warn().Str("group", g).Int64("generation", gen).Msg("left a group: its pods and services are removed")
		ev := api.Event{Type: api.EventWarning, Reason: ReasonGroupLeft, Object: "source/" + string(src), Message: msg, Time: time.Now()}
		if err := st.RecordEvent(ctx, ev); err != nil {
			log.Error().Err(err).Msg("recording event")
		}
	}
	return nil
}
