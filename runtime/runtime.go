package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/runtime/containerspec"
	"github.com/outpost-edge/outpost/runtime/ctrd"
	"github.com/outpost-edge/outpost/runtime/images"
	"github.com/outpost-edge/outpost/runtime/logs"
)

// Sentinel kinds of runtime errors: containerd's own (errdefs), so a
// container containerd does not know is ErrNotFound too.
var (
	ErrNotFound = errdefs.ErrNotFound
	ErrInvalid  = errdefs.ErrInvalidArgument.WithMessage("invalid")
)

// Config says where the runtime keeps its files and what it allows.
type Config struct {
	// DataDir is the agent's data dir; the runtime uses containerd/, pods/
	// and images/ below it.
	DataDir string
	// StateDir holds containerd's sockets, shim sockets and log FIFOs; at
	// most 40 characters (default /run/outpost).
	StateDir string
	// ContainerdAddress, when set, uses an existing containerd socket
	// instead of the embedded server.
	ContainerdAddress string
	// ShimPath is the binary containerd runs as the shim (default: this executable).
	ShimPath string
	// Policy says whether privileged containers, host networking and which
	// hostPaths are allowed.
	Policy containerspec.Policy
	// PidsLimit caps the processes of each pod's cgroup, and of each
	// container's, as kubelet's podPidsLimit; 0 or less sets none.
	PidsLimit int64
	// Logs sizes each container's log files.
	Logs logs.Options
	// Network configures pod networking; nil means host networking only
	// (every pod must then set hostNetwork).
	Network Network
	Logger  zerolog.Logger
}

// Network sets up and tears down a pod's network namespace.
type Network interface {
	Setup(ctx context.Context, podID, netnsPath string) (NetworkResult, error)
	Teardown(ctx context.Context, podID, netnsPath string) error
}

// Runtime runs pods through containerd.
type Runtime struct {
	cfg    Config
	log    zerolog.Logger
	server *ctrd.Server // nil with an external containerd
	client *client.Client
	pull   PullFunc
	// cgroupV2 is set when /sys/fs/cgroup is the unified hierarchy.
	cgroupV2 bool

	mu  sync.Mutex
	oom map[string]bool // container IDs with an OOM event not yet matched to their exit
	// ios holds the log plumbing of containers this process attached to.
	ios map[string]*logIO
}

// New starts the embedded containerd (or connects to cfg.ContainerdAddress)
// and imports every image tarball found in <data>/images.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.DataDir == "" || !filepath.IsAbs(cfg.DataDir) {
		return nil, fmt.Errorf("%w: data dir %q must be an absolute path", ErrInvalid, cfg.DataDir)
	}
	if cfg.StateDir == "" {
		cfg.StateDir = "/run/outpost"
	}
	r := &Runtime{
		cfg:      cfg,
		log:      cfg.Logger.With().Str("component", "runtime").Logger(),
		oom:      map[string]bool{},
		cgroupV2: unifiedCgroups(),
		ios:      map[string]*logIO{},
	}
	r.unbindLeftovers()
	began := time.Now()
	if cfg.ContainerdAddress != "" {
		c, err := ctrd.Connect(ctx, cfg.ContainerdAddress)
		if err != nil {
			return nil, err
		}
		r.client = c
	} else {
		s, err := ctrd.Start(ctx, ctrd.Config{
			DataDir:  filepath.Join(cfg.DataDir, "containerd"),
			StateDir: cfg.StateDir,
			ShimPath: cfg.ShimPath,
			// containerd narrates every plugin it loads; keep its warnings.
			Logger: cfg.Logger.Level(max(cfg.Logger.GetLevel(), zerolog.WarnLevel)),
		})
		if err != nil {
			return nil, err
		}
		r.server, r.client = s, s.Client()
	}
	r.log.Info().Dur("took", time.Since(began)).Bool("embedded", r.server != nil).Msg("containerd ready")
	// Before any container is created: a shim being started for one would
	// look orphaned.
	r.reap(ctx)
	if err := r.ImportDir(r.ctx(ctx), filepath.Join(cfg.DataDir, "images")); err != nil {
		r.log.Warn().Err(err).Msg("importing image tarballs")
	}
	return r, nil
}

// Client is the containerd client (namespace set per call with ctx).
func (r *Runtime) Client() *client.Client { return r.client }

// ctx puts outpost's containerd namespace on ctx.
func (r *Runtime) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, ctrd.Namespace)
}

// Close stops the embedded containerd; containers keep running.
func (r *Runtime) Close() error {
	r.mu.Lock()
	for id, io := range r.ios {
		io.detach()
		delete(r.ios, id)
	}
	r.mu.Unlock()
	if r.server != nil {
		return r.server.Stop()
	}
	return r.client.Close()
}

// ImportDir imports every *.tar, *.tar.gz, *.tgz and *.tar.zst image tarball
// in dir (air-gapped sites and device images ship their images this way).
// A tarball already imported unchanged (same size and modification time,
// recorded in dir/.imported) is skipped, so a boot does not re-read
// hundreds of megabytes. A missing dir is not an error; a bad tarball is
// logged and skipped.
func (r *Runtime) ImportDir(ctx context.Context, dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".tar") || strings.HasSuffix(name, ".tar.gz") ||
			strings.HasSuffix(name, ".tgz") || strings.HasSuffix(name, ".tar.zst")) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		stamp := fmt.Sprintf("%d %d\n", info.Size(), info.ModTime().UnixNano())
		marker := filepath.Join(dir, ".imported", name)
		if b, err := os.ReadFile(marker); err == nil && strings.HasPrefix(string(b), stamp) && r.imagesPresent(ctx, b) {
			continue
		}
		began := time.Now()
		imgs, err := images.Import(r.ctx(ctx), r.client, filepath.Join(dir, name), "")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var names []string
		for _, img := range imgs {
			names = append(names, img.Name())
			r.log.Info().Str("image", img.Name()).Str("file", name).Dur("took", time.Since(began)).Msg("imported image")
		}
		if err := os.MkdirAll(filepath.Dir(marker), 0o755); err == nil {
			os.WriteFile(marker, []byte(stamp+strings.Join(names, "\n")+"\n"), 0o644)
		}
	}
	return errors.Join(errs...)
}

// imagesPresent reports whether the images a marker names still exist (an
// image removed by hand or by GC is imported again).
func (r *Runtime) imagesPresent(ctx context.Context, marker []byte) bool {
	lines := strings.Split(strings.TrimSpace(string(marker)), "\n")
	if len(lines) < 2 {
		return false
	}
	for _, name := range lines[1:] {
		if _, err := r.client.GetImage(r.ctx(ctx), name); err != nil {
			return false
		}
	}
	return true
}

// PullFunc ensures an image is present, pulling it as policy says; pulled
// tells whether it came from a registry in this call.
type PullFunc func(ctx context.Context, ref, policy string) (img client.Image, pulled bool, err error)

// SetPuller makes the runtime pull missing images with pull (registries,
// credentials, backoff); without one, only local images are used.
func (r *Runtime) SetPuller(pull PullFunc) { r.pull = pull }
