package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
)

// pullLease returns ctx carrying the pull lease of name, creating it when
// missing. The lease has a fixed ID per image and no expiry, unlike the
// random 24h lease client.Pull makes itself and deletes when it returns:
// with that one, content store ingests of an interrupted pull are garbage
// collected (or orphaned) and the next pull downloads every layer again.
// Under a stable lease the ingests stay, keyed by layer digest, and the
// next pull resumes each with an HTTP Range request from where it stopped.
// The lease is deleted after a successful pull; PruneLeases deletes those
// of images given up on.
func (p *Puller) pullLease(ctx context.Context, name string) (context.Context, string, error) {
	id := pullLeaseID(name)
	_, err := p.c.LeasesService().Create(ctx, leases.WithID(id), leases.WithLabels(map[string]string{labelPullRef: name}))
	if err != nil && !errdefs.IsAlreadyExists(err) {
		return ctx, "", fmt.Errorf("pull lease for %s: %w", name, err)
	}
	return leases.WithLease(ctx, id), id, nil
}

func pullLeaseID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return pullLeasePrefix + hex.EncodeToString(sum[:16])
}

// PruneLeases deletes the pull leases older than maxAge of images no
// Ensure is pulling now, so containerd collects the partial downloads of
// images given up on. It returns how many it deleted.
func (p *Puller) PruneLeases(ctx context.Context, maxAge time.Duration) (int, error) {
	all, err := p.c.LeasesService().List(ctx)
	if err != nil {
		return 0, fmt.Errorf("list leases: %w", err)
	}
	cutoff := p.cfg.Now().Add(-maxAge)
	// A done context makes lock a try-lock: skip images being ensured.
	busy, cancel := context.WithCancel(ctx)
	cancel()
	n := 0
	for _, l := range all {
		if !strings.HasPrefix(l.ID, pullLeasePrefix) || l.CreatedAt.After(cutoff) {
			continue
		}
		unlock, err := p.locks.lock(busy, l.Labels[labelPullRef])
		if err != nil {
			continue
		}
		err = p.c.LeasesService().Delete(ctx, l)
		unlock()
		if err != nil && !errdefs.IsNotFound(err) {
			return n, fmt.Errorf("delete lease %s: %w", l.ID, err)
		}
		n++
	}
	return n, nil
}
