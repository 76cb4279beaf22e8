// Package ctrd runs containerd v2 inside the outpost process and hands out
// clients to it; it can also connect to an external containerd instead.
//
// The embedded server owns a private data (root) dir, a private state dir
// with its gRPC and TTRPC sockets and the shim sockets, and a lock file in
// each. Its tasks run under shims that are this very binary (see
// runtime/shim), so containers keep running when the server stops and a new
// server on the same dirs finds them again.
package ctrd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/cmd/containerd/server"
	srvconfig "github.com/containerd/containerd/v2/cmd/containerd/server/config"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/rs/zerolog"
)

// Namespace is the containerd namespace outpost creates everything in.
const Namespace = "outpost"

// maxStateDirLen keeps StateDir+"/s", the shim socket dir, within the 42
// characters containerd allows (a unix socket path is at most 107 bytes and
// the shim socket name is a 64 character hash).
const maxStateDirLen = 40

var (
	// ErrRuncNotFound is returned by Start when runc is not on PATH: the shim
	// would fail on the first container otherwise.
	ErrRuncNotFound = errors.New("runc not found: install the Debian/Ubuntu package runc")
	// ErrInUse is returned by Start when another process's server holds
	// the dirs, or another server runs in this process.
	ErrInUse = errors.New("containerd dirs in use by another process")
	// ErrInvalidConfig is returned by Start for an unusable Config.
	ErrInvalidConfig = errors.New("invalid containerd config")
)

// Config says where the embedded server keeps its files.
type Config struct {
	// DataDir is containerd's root: content, snapshots, metadata. Must be
	// on a file system overlayfs accepts as upper dir (ext4, xfs, btrfs).
	DataDir string
	// StateDir holds sockets and task bundles; it is meant to be on tmpfs
	// (/run/outpost) and must be an absolute path of at most 40 characters.
	StateDir string
	// ShimPath is the binary containerd execs as the shim, by absolute
	// path. Default: this executable, symlinks resolved.
	ShimPath string
	// Logger receives containerd's logs; the zero value logs nothing.
	Logger zerolog.Logger
	// BoltOpenTimeout bounds waiting for containerd's metadata file lock.
	// Default 3s.
	BoltOpenTimeout time.Duration
}

// running allows one embedded server per process: containerd keeps its
// temp mount location, timeouts and plugin registry in globals.
var running atomic.Bool

// Server is a running embedded containerd.
type Server struct {
	srv      *server.Server
	client   *client.Client
	address  string
	shimPath string
	cancel   context.CancelFunc
	locks    []*dirLock
	log      zerolog.Logger

	stopOnce sync.Once
	stopErr  error
}

// Start starts containerd in this process and returns once its gRPC socket
// answers. ctx bounds the start only; stop the server with Stop. One server
// runs per process at a time, and one per data or state dir on the machine:
// otherwise Start fails with ErrInUse.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return nil, ErrRuncNotFound
	}
	if !running.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("%w: an embedded containerd already runs in this process", ErrInUse)
	}
	zl := cfg.Logger.With().Str("component", "containerd").Logger()
	s := &Server{shimPath: cfg.ShimPath, log: zl}
	if err := s.start(ctx, cfg); err != nil {
		s.release()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(ctx context.Context, cfg Config) error {
	scfg := serverConfig(cfg)
	if err := server.CreateTopLevelDirectories(scfg); err != nil {
		return fmt.Errorf("create containerd dirs: %w", err)
	}
	for _, dir := range []string{cfg.DataDir, cfg.StateDir} {
		l, err := lockDir(dir)
		if err != nil {
			return err
		}
		s.locks = append(s.locks, l)
	}

	// The server's context outlives ctx (plugins keep it for their
	// goroutines) and ends with Stop.
	srvCtx, cancel := context.WithCancel(withLogger(context.WithoutCancel(ctx), s.log))
	s.cancel = cancel

	// Mounts left by a previous process that died in the middle of an
	// unpack or a diff.
	if err := mount.SetTempMountLocation(filepath.Join(cfg.DataDir, "tmpmounts")); err != nil {
		return fmt.Errorf("set temp mount location: %w", err)
	}
	warnings, err := mount.CleanupTempMounts(0)
	if err != nil {
		s.log.Warn().Err(err).Msg("unmount stale temp mounts")
	}
	for _, w := range warnings {
		s.log.Warn().Err(w).Msg("unmount stale temp mount")
	}

	started := time.Now()
	srv, err := newServer(ctx, srvCtx, scfg)
	if err != nil {
		return err
	}
	s.srv = srv
	if err := srv.Start(srvCtx); err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	s.address = grpcAddress(cfg)
	c, err := newClient(ctx, s.address, client.WithDefaultRuntime(s.shimPath))
	if err != nil {
		return err
	}
	s.client = c
	s.log.Info().Str("address", s.address).Dur("ready_in", time.Since(started)).Msg("containerd ready")
	return nil
}

// newServer loads the plugins. server.New has no context of its own to give
// up on (opening a locked bolt file blocks until its timeout), so it runs
// aside and ctx is honoured here.
func newServer(ctx, srvCtx context.Context, scfg *srvconfig.Config) (*server.Server, error) {
	type result struct {
		srv *server.Server
		err error
	}
	done := make(chan result, 1)
	go func() {
		srv, err := server.New(srvCtx, scfg)
		done <- result{srv, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("load containerd plugins: %w", r.err)
		}
		return r.srv, nil
	case <-ctx.Done():
		go func() { // stop it once it is there, it holds files and the bolt lock
			if r := <-done; r.srv != nil {
				r.srv.Stop()
			}
		}()
		return nil, fmt.Errorf("load containerd plugins: %w", ctx.Err())
	}
}

// Client returns the server's client: namespace "outpost", tasks run by our
// shim. It is shared; do not Close it, Stop does.
func (s *Server) Client() *client.Client { return s.client }

// Address is the server's gRPC socket, for tools like ctr.
func (s *Server) Address() string { return s.address }

// Stop stops the server. Containers and their shims keep running; a server
// started later on the same dirs finds them.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.release() })
	return s.stopErr
}

func (s *Server) release() error {
	var errs []error
	if s.client != nil {
		if err := s.client.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close client: %w", err))
		}
	}
	if s.srv != nil {
		s.srv.Stop() // closes listeners, snapshotters and the bolt file
	}
	if s.cancel != nil {
		s.cancel()
	}
	for _, l := range s.locks {
		if err := l.unlock(); err != nil {
			errs = append(errs, fmt.Errorf("unlock: %w", err))
		}
	}
	running.Store(false)
	return errors.Join(errs...)
}

// Connect returns a client for an external containerd (1.6 or later) at
// address, in namespace "outpost", running tasks with that installation's
// io.containerd.runc.v2 shim. The caller closes it.
func Connect(ctx context.Context, address string) (*client.Client, error) {
	return newClient(ctx, address, client.WithDefaultRuntime("io.containerd.runc.v2"))
}

// newClient dials address and checks that containerd answers.
func newClient(ctx context.Context, address string, opts ...client.Opt) (*client.Client, error) {
	opts = append([]client.Opt{client.WithDefaultNamespace(Namespace)}, opts...)
	c, err := client.New(address, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", address, err)
	}
	if _, err := c.Version(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("containerd at %s does not answer: %w", address, err)
	}
	return c, nil
}

func withDefaults(cfg Config) (Config, error) {
	if !filepath.IsAbs(cfg.DataDir) {
		return cfg, fmt.Errorf("%w: data dir %q is not an absolute path", ErrInvalidConfig, cfg.DataDir)
	}
	if !filepath.IsAbs(cfg.StateDir) {
		return cfg, fmt.Errorf("%w: state dir %q is not an absolute path", ErrInvalidConfig, cfg.StateDir)
	}
	cfg.DataDir = filepath.Clean(cfg.DataDir)
	cfg.StateDir = filepath.Clean(cfg.StateDir)
	if len(cfg.StateDir) > maxStateDirLen {
		return cfg, fmt.Errorf("%w: state dir %q is longer than %d characters (shim socket paths would not fit)",
			ErrInvalidConfig, cfg.StateDir, maxStateDirLen)
	}
	if cfg.DataDir == cfg.StateDir {
		return cfg, fmt.Errorf("%w: data dir and state dir are both %q", ErrInvalidConfig, cfg.DataDir)
	}
	if cfg.ShimPath == "" {
		self, err := os.Executable()
		if err != nil {
			return cfg, fmt.Errorf("find own executable for the shim: %w", err)
		}
		if cfg.ShimPath, err = filepath.EvalSymlinks(self); err != nil {
			return cfg, fmt.Errorf("resolve own executable for the shim: %w", err)
		}
	}
	if !filepath.IsAbs(cfg.ShimPath) {
		return cfg, fmt.Errorf("%w: shim path %q is not an absolute path", ErrInvalidConfig, cfg.ShimPath)
	}
	if cfg.BoltOpenTimeout == 0 {
		cfg.BoltOpenTimeout = 3 * time.Second
	}
	return cfg, nil
}
