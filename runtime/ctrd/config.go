package ctrd

import (
	"path/filepath"

	srvconfig "github.com/containerd/containerd/v2/cmd/containerd/server/config"
	"github.com/containerd/containerd/v2/version"
)

func grpcAddress(cfg Config) string   { return filepath.Join(cfg.StateDir, "containerd.sock") }
func ttrpcAddress(cfg Config) string  { return filepath.Join(cfg.StateDir, "containerd.sock.ttrpc") }
func shimSocketDir(cfg Config) string { return filepath.Join(cfg.StateDir, "s") }

// serverConfig is the containerd configuration, built in code: there is no
// TOML file to drift from what the agent expects.
func serverConfig(cfg Config) *srvconfig.Config {
	return &srvconfig.Config{
		Version:         version.ConfigVersion,
		Root:            cfg.DataDir,
		State:           cfg.StateDir,
		RequiredPlugins: requiredPlugins,
		DisabledPlugins: disabledPlugins,
		Timeouts: map[string]string{
			// bolt waits on the file lock for this long, then fails the
			// (required) metadata plugin instead of hanging Start.
			"io.containerd.timeout.bolt.open": cfg.BoltOpenTimeout.String(),
		},
		Plugins: map[string]any{
			"io.containerd.server.v1.grpc": map[string]any{"address": grpcAddress(cfg)},
			// Without an address the TTRPC server would take
			// /run/containerd/containerd.sock.ttrpc from a system containerd.
			"io.containerd.server.v1.ttrpc": map[string]any{"address": ttrpcAddress(cfg)},
			"io.containerd.shim.v1.manager": map[string]any{"socket_dir": shimSocketDir(cfg)},
		},
	}
}
