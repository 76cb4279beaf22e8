package images

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
)

// LabelLastUsed is the containerd image label holding when Ensure last
// returned the image (RFC 3339, UTC); the image GC deletes the least
// recently used images first.
const LabelLastUsed = "io.outpost.image/last-used"

// Pull leases keep partial downloads across failed pulls (see pullLease).
const (
	pullLeasePrefix = "outpost-pull-"
	labelPullRef    = "io.outpost.pull/ref"
)

// Defaults of the retries inside one Ensure call.
const (
	DefaultPullAttempts = 3
	DefaultRetryInitial = time.Second
	DefaultRetryMax     = 10 * time.Second
)

// PullerConfig configures a Puller. The zero value pulls with the defaults
// from registries as Docker would (https, system CAs, no credentials).
type PullerConfig struct {
	Registry RegistryConfig
	// Snapshotter images are unpacked for; default DefaultSnapshotter.
	Snapshotter string
	Logger      zerolog.Logger

	// Attempts is how many times one Ensure tries a pull that fails with a
	// transient error, waiting RetryInitial, doubling to RetryMax, between.
	Attempts     int
	RetryInitial time.Duration
	RetryMax     time.Duration
	// BackoffInitial and BackoffMax bound the per-image back-off across
	// Ensure calls after a failed pull (kubelet: 10s doubling to 5m).
	BackoffInitial time.Duration
	BackoffMax     time.Duration

	// Now and Sleep are the clock, for tests. Sleep returns early with the
	// context's error.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Puller makes images present according to a pull policy. It is safe for
// concurrent use; Ensure calls for the same image run one at a time.
type Puller struct {
	c       *client.Client
	cfg     PullerConfig
	hosts   *hostClients
	backoff *pullBackoff
	locks   keyedMutex
	log     zerolog.Logger
}

// NewPuller returns a Puller using c (whose namespace applies). It fails
// with ErrInvalidConfig for an unusable RegistryConfig.
func NewPuller(c *client.Client, cfg PullerConfig) (*Puller, error) {
	if err := cfg.Registry.Validate(); err != nil {
		return nil, err
	}
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = DefaultSnapshotter
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultPullAttempts
	}
	if cfg.RetryInitial <= 0 {
		cfg.RetryInitial = DefaultRetryInitial
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	if cfg.BackoffInitial <= 0 {
		cfg.BackoffInitial = DefaultBackoffInitial
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = DefaultBackoffMax
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	return &Puller{
		c:       c,
		cfg:     cfg,
		hosts:   newHostClients(cfg.Registry),
		backoff: newBackoff(cfg.BackoffInitial, cfg.BackoffMax),
		locks:   keyedMutex{locks: map[string]chan struct{}{}},
		log:     cfg.Logger.With().Str("component", "images").Logger(),
	}, nil
}

// Result says how Ensure made the image present.
type Result struct {
	Image client.Image
	// Pulled is true when the image came from a registry in this call.
	Pulled bool
	// Offline is the pull error when the policy was Always, the registry
	// could not be reached (or the image is in back-off) and the image
	// already present was used instead.
	Offline error
}

// Ensure returns the image ref names, pulling it as policy (api.PullAlways,
// api.PullIfNotPresent, api.PullNever) says, like kubelet:
//   - Never: the present image, or ErrImageNeverPull;
//   - IfNotPresent: the present image without any network access, else a pull;
//   - Always: a pull; when the registry cannot be reached and the image is
//     present, the present image (see EnsureResult), so an offline node keeps
//     starting its containers.
//
// A pull failing with a transient error is retried within the call. After a
// failed call the image is in back-off (10s doubling to 5m): until it
// expires Ensure fails at once with ErrImagePullBackOff. Errors wrap one of
// ErrImagePull, ErrImagePullBackOff, ErrImageNeverPull, ErrInvalidImageName
// (see Reason), or the context's error.
func (p *Puller) Ensure(ctx context.Context, ref, policy string) (client.Image, error) {
	r, err := p.EnsureResult(ctx, ref, policy)
	return r.Image, err
}

// EnsureResult is Ensure, also saying whether the image was pulled or an
// offline fallback was taken.
func (p *Puller) EnsureResult(ctx context.Context, ref, policy string) (Result, error) {
	name, err := Normalize(ref)
	if err != nil {
		return Result{}, err
	}
	switch policy {
	case api.PullAlways, api.PullIfNotPresent, api.PullNever:
	default:
		return Result{}, fmt.Errorf("%w: image pull policy %q", ErrInvalidConfig, policy)
	}
	unlock, err := p.locks.lock(ctx, name)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	log := p.log.With().Str("image", name).Str("policy", policy).Logger()

	local, err := p.present(ctx, name)
	if err != nil {
		return Result{}, err
	}
	if local != nil && policy != api.PullAlways {
		img, err := p.touch(ctx, local)
		return Result{Image: img}, err
	}
	if policy == api.PullNever {
		return Result{}, fmt.Errorf("%w: %s", ErrImageNeverPull, name)
	}

	if left, last := p.backoff.blocked(name, p.cfg.Now()); left > 0 {
		err := fmt.Errorf("%w: %s, next pull in %s: last failure: %v", ErrImagePullBackOff, name, left.Round(time.Second), last)
		if local == nil {
			return Result{}, err
		}
		return p.offline(ctx, local, err, log)
	}
	img, raw := p.pull(ctx, name, log)
	if raw == nil {
		p.backoff.succeeded(name)
		return Result{Image: img, Pulled: true}, nil
	}
	err = pullError(name, raw)
	if ctx.Err() != nil {
		// Cancelled by the caller (pod deleted, shutdown): not the
		// image's fault, no back-off.
		return Result{}, err
	}
	delay := p.backoff.failed(name, p.cfg.Now(), err)
	log.Warn().Err(err).Dur("backoff", delay).Msg("image pull failed")
	if local == nil || !transient(raw) {
		// A refusal (unauthorized, not found, untrusted certificate)
		// is not an outage: Always must not hide it.
		return Result{}, err
	}
	return p.offline(ctx, local, err, log)
}

// offline returns the present image after a failed or skipped pull.
func (p *Puller) offline(ctx context.Context, local *images.Image, pullErr error, log zerolog.Logger) (Result, error) {
	log.Warn().Err(pullErr).Msg("registry unreachable, using the image present on the node")
	img, err := p.touch(ctx, local)
	return Result{Image: img, Offline: pullErr}, err
}

// present returns the image record for name when the image is usable
// without a download: record, content and (after a local unpack if
// needed) snapshots. nil when it is not.
func (p *Puller) present(ctx context.Context, name string) (*images.Image, error) {
	rec, err := p.c.ImageService().Get(ctx, name)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up image %s: %w", name, err)
	}
	img := client.NewImage(p.c, rec)
	ok, err := img.IsUnpacked(ctx, p.cfg.Snapshotter)
	if err == nil && !ok {
		err = img.Unpack(ctx, p.cfg.Snapshotter)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// Content missing (an interrupted import, a manual content
		// removal): the image must come from a registry again.
		p.log.Warn().Err(err).Str("image", name).Msg("image record present but not usable")
		return nil, nil
	}
	return &rec, nil
}

// touch records that the image is being used now, for the image GC.
func (p *Puller) touch(ctx context.Context, rec *images.Image) (client.Image, error) {
	updated, err := p.c.ImageService().Update(ctx, images.Image{
		Name:   rec.Name,
		Labels: map[string]string{LabelLastUsed: p.lastUsed()},
	}, "labels."+LabelLastUsed)
	if err != nil {
		return nil, fmt.Errorf("label image %s: %w", rec.Name, err)
	}
	return client.NewImage(p.c, updated), nil
}

func (p *Puller) lastUsed() string { return p.cfg.Now().UTC().Format(time.RFC3339) }

// pull pulls name, retrying transient failures with capped exponential
// back-off, and returns the last failure as is.
func (p *Puller) pull(ctx context.Context, name string, log zerolog.Logger) (client.Image, error) {
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: p.hosts.hosts})
	delay := p.cfg.RetryInitial
	for attempt := 1; ; attempt++ {
		began := time.Now()
		img, err := p.pullOnce(ctx, name, resolver)
		if err == nil {
			log.Info().Dur("took", time.Since(began)).Int("attempt", attempt).Msg("image pulled")
			return img, nil
		}
		if ctx.Err() != nil || !transient(err) || attempt >= p.cfg.Attempts {
			return nil, err
		}
		log.Debug().Err(err).Int("attempt", attempt).Dur("retry_in", delay).Msg("image pull failed, retrying")
		if err := p.cfg.Sleep(ctx, delay); err != nil {
			return nil, err
		}
		delay = min(2*delay, p.cfg.RetryMax)
	}
}

func pullError(name string, err error) error {
	if unauthorized(err) {
		return fmt.Errorf("%w: %s: unauthorized (check the registry credentials): %w", ErrImagePull, name, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrImagePull, name, err)
}

// pullOnce pulls and unpacks name under the image's pull lease and drops
// the lease once the image record holds the content.
func (p *Puller) pullOnce(ctx context.Context, name string, resolver remotes.Resolver) (client.Image, error) {
	ctx, lease, err := p.pullLease(ctx, name)
	if err != nil {
		return nil, err
	}
	img, err := p.c.Pull(ctx, name,
		client.WithResolver(resolver),
		client.WithPullUnpack,
		client.WithPullSnapshotter(p.cfg.Snapshotter),
		client.WithPullLabel(LabelLastUsed, p.lastUsed()),
	)
	if err != nil {
		return nil, err
	}
	// The image record holds the content now; a failure to drop the
	// lease only delays garbage collection until PruneLeases.
	if err := p.c.LeasesService().Delete(context.WithoutCancel(ctx), leases.Lease{ID: lease}); err != nil && !errdefs.IsNotFound(err) {
		p.log.Warn().Err(err).Str("image", name).Msg("drop pull lease")
	}
	return img, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
