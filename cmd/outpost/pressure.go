package main

import (
	"context"
	"slices"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/agent/nodestatus"
	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/images"
)

// imageCollector deletes unused images; images.GC is one.
type imageCollector interface {
	CollectUnused(ctx context.Context) (images.GCResult, error)
}

// imagesFirst lets unused images go before any pod is evicted for disk
// (bytes or inodes), as kubelet does, whatever the image GC's threshold.
// When it deleted some, the disk thresholds are dropped from this round's
// met list (the next round measures again) and the others (memory, pids)
// still count.
func imagesFirst(ctx context.Context, met []nodestatus.ThresholdMet, gc imageCollector, log zerolog.Logger) []nodestatus.ThresholdMet {
	disk := func(m nodestatus.ThresholdMet) bool { return m.Resource() == api.ResourceEphemeralStorage }
	if !slices.ContainsFunc(met, disk) {
		return met
	}
	res, err := gc.CollectUnused(ctx)
	if err != nil {
		log.Warn().Err(err).Msg("disk pressure: deleting unused images")
		return met
	}
	if len(res.Deleted) == 0 {
		return met
	}
	log.Info().Strs("images", res.Deleted).Msg("disk pressure: deleted unused images before evicting")
	return slices.DeleteFunc(slices.Clone(met), disk)
}
