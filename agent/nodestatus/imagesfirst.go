package nodestatus

import (
	"context"
	"slices"

	"github.com/outpost-edge/outpost/api"
)

// imagesFirst lets unused images go before any pod is evicted for disk
// (bytes or inodes), as kubelet does, whatever the image GC's threshold.
// When some were deleted, the disk thresholds are dropped from this round's
// met list (the next round measures again) and the others (memory, pids)
// still count.
func (e *Evictor) imagesFirst(ctx context.Context, met []ThresholdMet) []ThresholdMet {
	disk := func(m ThresholdMet) bool { return m.Resource() == api.ResourceEphemeralStorage }
	if e.unusedImages == nil || !slices.ContainsFunc(met, disk) {
		return met
	}
	deleted, err := e.unusedImages(ctx)
	if err != nil {
		e.log.Warn().Err(err).Msg("disk pressure: deleting unused images")
		return met
	}
	if len(deleted) == 0 {
		return met
	}
	e.log.Info().Strs("images", deleted).Msg("disk pressure: deleted unused images before evicting")
	return slices.DeleteFunc(slices.Clone(met), disk)
}
