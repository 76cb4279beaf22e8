package images

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// Defaults of the image GC, as kubelet's.
const (
	DefaultHighPercent = 85
	DefaultLowPercent  = 80
	DefaultMinAge      = 2 * time.Minute
)

// UsageFunc returns the used and total bytes of the file system holding
// containerd's root.
type UsageFunc func(ctx context.Context) (used, total uint64, err error)

// FilesystemUsage is a UsageFunc for the file system holding path: used
// counts the blocks reserved for root, as df does.
func FilesystemUsage(path string) UsageFunc {
	return func(context.Context) (uint64, uint64, error) {
		var st unix.Statfs_t
		if err := unix.Statfs(path, &st); err != nil {
			return 0, 0, fmt.Errorf("statfs %s: %w", path, err)
		}
		total := st.Blocks * uint64(st.Bsize)
		return total - st.Bavail*uint64(st.Bsize), total, nil
	}
}

// GCConfig configures the image GC.
type GCConfig struct {
	// Usage measures the disk; required.
	Usage UsageFunc
	// When usage reaches HighPercent of the disk, images are deleted until
	// it is at or below LowPercent (defaults 85 and 80).
	HighPercent int
	LowPercent  int
	// MinAge spares images used (by Ensure) this recently, so an image
	// ensured for a container about to be created stays (default 2m).
	MinAge time.Duration
	Logger zerolog.Logger
	Now    func() time.Time
}

// GC deletes unused images, least recently used first, when the disk is
// too full. An image is in use when a container record names it, or names
// an image with the same target; those are never deleted.
type GC struct {
	c   *client.Client
	cfg GCConfig
	log zerolog.Logger
}

// NewGC returns an image GC for c's namespace; thresholds out of
// 0 < low < high <= 100 are ErrInvalidConfig.
func NewGC(c *client.Client, cfg GCConfig) (*GC, error) {
	if cfg.HighPercent == 0 {
		cfg.HighPercent = DefaultHighPercent
	}
	if cfg.LowPercent == 0 {
		cfg.LowPercent = DefaultLowPercent
	}
	if cfg.LowPercent <= 0 || cfg.LowPercent >= cfg.HighPercent || cfg.HighPercent > 100 {
		return nil, fmt.Errorf("%w: image GC thresholds low %d%%, high %d%%", ErrInvalidConfig, cfg.LowPercent, cfg.HighPercent)
	}
	if cfg.Usage == nil {
		return nil, fmt.Errorf("%w: image GC needs a disk usage function", ErrInvalidConfig)
	}
	if cfg.MinAge == 0 {
		cfg.MinAge = DefaultMinAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &GC{c: c, cfg: cfg, log: cfg.Logger.With().Str("component", "imagegc").Logger()}, nil
}

// GCResult reports one collection.
type GCResult struct {
	Deleted            []string
	UsedBefore, Used   uint64
	Total              uint64
	NotEnoughCandidate bool // still above LowPercent: everything left is in use or too recent
}

// Collect deletes images when usage is at or above HighPercent, until it
// is at or below LowPercent. Each delete is synchronous: containerd's
// garbage collector has removed the image's unreferenced content and
// snapshots before usage is measured again.
func (g *GC) Collect(ctx context.Context) (GCResult, error) { return g.collect(ctx, false) }

// CollectUnused deletes every unused image (neither in use nor used within
// MinAge), least recently used first, whatever the usage: the node is
// under disk pressure, which may be of inodes while bytes are below
// HighPercent, and images go before pods do.
func (g *GC) CollectUnused(ctx context.Context) (GCResult, error) { return g.collect(ctx, true) }

func (g *GC) collect(ctx context.Context, all bool) (GCResult, error) {
	used, total, err := g.cfg.Usage(ctx)
	if err != nil {
		return GCResult{}, fmt.Errorf("image gc: %w", err)
	}
	res := GCResult{UsedBefore: used, Used: used, Total: total}
	if !all && (total == 0 || used*100 < uint64(g.cfg.HighPercent)*total) {
		return res, nil
	}
	low := total * uint64(g.cfg.LowPercent) / 100
	candidates, err := g.candidates(ctx)
	if err != nil {
		return res, err
	}
	if all {
		g.log.Info().Uint64("used", used).Uint64("total", total).Int("candidates", len(candidates)).
			Msg("disk pressure: deleting every unused image")
	} else {
		g.log.Info().Uint64("used", used).Uint64("total", total).Int("candidates", len(candidates)).
			Msg("disk usage above the image gc threshold")
	}
	for _, img := range candidates {
		if !all && used <= low {
			break
		}
		err := g.c.ImageService().Delete(ctx, img.Name, images.DeleteTarget(&img.Target), images.SynchronousDelete())
		switch {
		case errdefs.IsNotFound(err), errdefs.IsFailedPrecondition(err):
			continue // deleted meanwhile, or re-pulled to a new target
		case err != nil:
			return res, fmt.Errorf("image gc: delete %s: %w", img.Name, err)
		}
		res.Deleted = append(res.Deleted, img.Name)
		g.log.Info().Str("image", img.Name).Msg("deleted unused image")
		if used, _, err = g.cfg.Usage(ctx); err != nil {
			return res, fmt.Errorf("image gc: %w", err)
		}
		res.Used = used
	}
	if used > low {
		res.NotEnoughCandidate = true
		if !all {
			g.log.Warn().Uint64("used", used).Uint64("low", low).Msg("image gc could not free enough: the rest is in use")
		}
	}
	return res, nil
}

// Run collects every interval until ctx is done; failures are logged.
func (g *GC) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := g.Collect(ctx); err != nil && ctx.Err() == nil {
			g.log.Warn().Err(err).Msg("image gc failed")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// candidates returns the images that may be deleted, least recently used
// first.
func (g *GC) candidates(ctx context.Context) ([]images.Image, error) {
	all, err := g.c.ImageService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("image gc: list images: %w", err)
	}
	containers, err := g.c.ContainerService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("image gc: list containers: %w", err)
	}
	usedNames := map[string]bool{}
	for _, c := range containers {
		usedNames[c.Image] = true
		if n, err := Normalize(c.Image); err == nil {
			usedNames[n] = true
		}
	}
	usedTargets := map[digest.Digest]bool{}
	for _, img := range all {
		if usedNames[img.Name] {
			usedTargets[img.Target.Digest] = true
		}
	}
	cutoff := g.cfg.Now().Add(-g.cfg.MinAge)
	var out []images.Image
	for _, img := range all {
		if usedTargets[img.Target.Digest] || lastUsed(img).After(cutoff) {
			continue
		}
		out = append(out, img)
	}
	slices.SortStableFunc(out, func(a, b images.Image) int { return lastUsed(a).Compare(lastUsed(b)) })
	return out, nil
}

// lastUsed is when Ensure last returned img, or when it was last written
// for images Ensure never returned (imported ones).
func lastUsed(img images.Image) time.Time {
	if t, err := time.Parse(time.RFC3339, img.Labels[LabelLastUsed]); err == nil {
		return t
	}
	return img.UpdatedAt
}
