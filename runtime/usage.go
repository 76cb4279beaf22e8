package runtime

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
)

// WritableLayerBytes is the disk the containers of pod uid use in their
// writable layers (what they wrote outside volumes), as the snapshotter
// measures it. Eviction under disk pressure counts it against the pod, as
// kubelet counts a container's writable layer in its ephemeral storage. It
// walks the layers, so it is for when the node is short of disk, not for
// every status update.
func (r *Runtime) WritableLayerBytes(ctx context.Context, uid string) (int64, error) {
	ctx = r.ctx(ctx)
	conts, err := r.client.Containers(ctx, fmt.Sprintf("labels.%q==%q", LabelPodUID, uid))
	if err != nil {
		return 0, fmt.Errorf("list containers of pod %s: %w", uid, err)
	}
	var total int64
	for _, cont := range conts {
		info, err := cont.Info(ctx, client.WithoutRefreshedMetadata)
		if errdefs.IsNotFound(err) {
			continue // deleted meanwhile
		}
		if err != nil {
			return 0, err
		}
		if info.SnapshotKey == "" {
			continue
		}
		u, err := r.client.SnapshotService(info.Snapshotter).Usage(ctx, info.SnapshotKey)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("writable layer of %s: %w", info.ID, err)
		}
		total += u.Size
	}
	return total, nil
}
