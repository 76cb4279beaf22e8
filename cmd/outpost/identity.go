package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/agent/identity"
	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/cmd/outpost/config"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/mqttlink"
)

// loadIdentity reads (at first start, creates) the device's key pair and
// instance id under the data dir and settles cfg.NodeName by the node name
// rule when it is auto. The returned logger names the node.
func loadIdentity(cfg *config.Config, log zerolog.Logger) (*identity.Identity, zerolog.Logger, error) {
	id, err := identity.Load(cfg.DataDir, time.Now())
	if err != nil {
		return nil, log, fmt.Errorf("node identity: %w", err)
	}
	host, _ := os.Hostname()
	name := identity.NodeName(identity.Machine{Root: os.DirFS("/"), Hostname: host}, cfg.NodeName, cfg.NodeNamePrefix, id.InstanceID)
	cfg.NodeName = name.Name
	log = log.With().Str("node", cfg.NodeName).Logger()
	log.Info().Str("from", name.Source).Str("instance", id.InstanceID).Str("publicKey", id.PublicKey()).Msg("node identity")
	return id, log, nil
}

// recordReplaced turns each identity file found damaged and replaced into
// a warning event.
func recordReplaced(ctx context.Context, st *store.Store, id *identity.Identity, log zerolog.Logger) {
	for _, r := range id.Replaced {
		log.Warn().Msg("node identity: " + r)
		ev := api.Event{Type: api.EventWarning, Reason: identity.ReasonReplaced, Object: "node", Message: r, Time: time.Now().UTC()}
		if err := st.RecordEvent(ctx, ev); err != nil {
			log.Error().Err(err).Msg("recording event")
		}
	}
}

// nameConflictCondition is the NodeNameConflict condition: True once the
// link saw another device claim the node's name (c non-nil).
func nameConflictCondition(c *mqttlink.NameConflict, began time.Time) api.NodeCondition {
	if c == nil {
		return api.NodeCondition{Type: api.NodeNameConflict, Status: api.ConditionFalse, Reason: "NameOwn",
			Message: "no other device seen using this node name", LastTransitionTime: began.UTC()}
	}
	return api.NodeCondition{Type: api.NodeNameConflict, Status: api.ConditionTrue, Reason: api.NodeNameConflict,
		Message: fmt.Sprintf("another device (instance %s) uses this node name: remote documents for it are not applied "+
			"and its status is not published; stored pods keep running. Give each device its own nodeName and restart", c.OtherInstance),
		LastTransitionTime: c.Since}
}
