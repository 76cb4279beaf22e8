// Package cni attaches pod network namespaces to the node's pod network
// with the standard CNI plugins (Debian package containernetworking-plugins):
// a Linux bridge the node routes for, host-local IP allocation from the pod
// CIDR, and loopback.
//
// It owns the network's conflist (written to ConfDir on New), the
// host-local allocations under DataDir and libcni's result cache under
// CacheDir; nothing of it lives in /etc/cni or /var/lib/cni, so a CNI setup
// of another runtime on the node is neither read nor disturbed. It keeps no
// other state: what a pod has is what the cache and the kernel say, so a
// restarted agent adopts pods by calling Setup again.
//
// The bridge masquerades nothing (ipMasq false) and no portmap plugin runs:
// egress NAT and host ports are nftables rules owned elsewhere, so no
// iptables binary is needed.
package cni

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/rs/zerolog"
)

// Defaults for Config's zero fields. The directories sit under the agent's
// default data dir; the agent passes its own.
const (
	DefaultBridgeName = "outpost0"
	DefaultConfDir    = "/var/lib/outpost/cni/net.d"
	DefaultDataDir    = "/var/lib/outpost/cni/networks"
	DefaultCacheDir   = "/var/lib/outpost/cni/cache"
)

// The network as the plugins and the cache know it.
const (
	// NetworkName names the conflist; host-local keeps its allocations in
	// DataDir/NetworkName.
	NetworkName = "outpost"
	// IfName is the pod's interface.
	IfName = "eth0"
	// ConfFile is the conflist's name in ConfDir.
	ConfFile = "10-outpost.conflist"
	// MaxPodIDLen bounds pod IDs; they name cache files and host-local
	// entries.
	MaxPodIDLen = 64
)

var (
	// DefaultPluginDirs are searched, in order, for the plugin binaries:
	// Debian's package installs into the first, upstream tarballs into the
	// second.
	DefaultPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	// DefaultPodCIDR is the pod network unless configured.
	DefaultPodCIDR = netip.MustParsePrefix("10.88.0.0/16")
)

// requiredPlugins are the binaries the conflist runs; each must be found in
// one of the plugin dirs.
var requiredPlugins = []string{"bridge", "host-local", "loopback"}

// cniVersions are the conflist versions we can write, best first: 1.0.0
// with Debian 12's plugins (1.1.1), 0.4.0 (the first with CHECK) with older
// ones such as Ubuntu 22.04's.
var cniVersions = []string{"1.0.0", "0.4.0"}

var (
	// ErrPluginsMissing: a plugin binary is not in any plugin dir, or does
	// not run.
	ErrPluginsMissing = errors.New("CNI plugins missing: install the Debian/Ubuntu package containernetworking-plugins")
	// ErrInvalid: an unusable Config, pod ID or netns path.
	ErrInvalid = errors.New("invalid CNI request")
)

// Config describes the node's pod network. The zero value is usable.
type Config struct {
	// PluginDirs are searched in order for the plugin binaries (default
	// DefaultPluginDirs).
	PluginDirs []string
	// ConfDir receives the conflist (default DefaultConfDir). Outpost
	// writes it on New; it is there for people and tools (cnitool), the
	// network uses the bytes it wrote.
	ConfDir string
	// DataDir holds host-local's allocations (default DefaultDataDir).
	DataDir string
	// CacheDir holds libcni's results cache, what Setup adopts from and DEL
	// hands the plugins back (default DefaultCacheDir).
	CacheDir string
	// PodCIDR is the IPv4 prefix pods get addresses from (default
	// DefaultPodCIDR). Its first address is the bridge's, the gateway.
	PodCIDR netip.Prefix
	// BridgeName is the node's bridge (default DefaultBridgeName).
	BridgeName string
	// MTU of the bridge and the pod interfaces; 0 leaves the kernel's.
	MTU int
}

func (c Config) withDefaults() (Config, error) {
	if len(c.PluginDirs) == 0 {
		c.PluginDirs = DefaultPluginDirs
	}
	if c.ConfDir == "" {
		c.ConfDir = DefaultConfDir
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.CacheDir == "" {
		c.CacheDir = DefaultCacheDir
	}
	if !c.PodCIDR.IsValid() {
		c.PodCIDR = DefaultPodCIDR
	}
	if c.BridgeName == "" {
		c.BridgeName = DefaultBridgeName
	}
	c.PodCIDR = c.PodCIDR.Masked()
	switch {
	case !c.PodCIDR.Addr().Is4():
		return c, fmt.Errorf("cni: %w: pod CIDR %s is not IPv4", ErrInvalid, c.PodCIDR)
	case c.PodCIDR.Bits() > 30:
		// network, gateway and broadcast address leave no pod address
		return c, fmt.Errorf("cni: %w: pod CIDR %s is smaller than a /30", ErrInvalid, c.PodCIDR)
	case len(c.BridgeName) > 15 || strings.ContainsAny(c.BridgeName, "/ \t\n:"):
		return c, fmt.Errorf("cni: %w: bridge name %q (at most 15 characters, no '/', ':' or space)", ErrInvalid, c.BridgeName)
	case c.MTU != 0 && (c.MTU < 576 || c.MTU > 65535):
		return c, fmt.Errorf("cni: %w: MTU %d", ErrInvalid, c.MTU)
	}
	for _, d := range []string{c.ConfDir, c.DataDir, c.CacheDir} {
		if !filepath.IsAbs(d) {
			return c, fmt.Errorf("cni: %w: %q is not an absolute path", ErrInvalid, d)
		}
	}
	return c, nil
}

// Network is the node's pod network. Its methods are safe for concurrent
// use for different pods; calls for one pod must not overlap (the pod's
// worker makes them one at a time).
//
// The host side (the bridge, the host ends of the veths, ip_forward) is
// set up in the network namespace of the thread that calls Setup or
// Teardown: the plugins are run from the calling goroutine and inherit its
// thread's namespace. Normally that is the node's; a caller may run them
// inside (*netns.NS).Do to put the host side into another namespace, which
// is how the tests keep their bridges off the real host.
type Network struct {
	cfg  Config
	cni  *libcni.CNIConfig
	list *libcni.NetworkConfigList
	log  zerolog.Logger
}

// New checks the plugins, writes the conflist and returns the network. It
// creates no bridge and allocates nothing; the first Setup does. ctx bounds
// running the plugins to ask for their CNI versions.
func New(ctx context.Context, cfg Config, log zerolog.Logger) (*Network, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if reflect.ValueOf(log).IsZero() {
		log = zerolog.Nop()
	}
	log = log.With().Str("component", "cni").Logger()

	exec := &invoke.DefaultExec{
		RawExec:       &invoke.RawExec{Stderr: stderrLog{log}},
		PluginDecoder: version.PluginDecoder{},
	}
	n := &Network{
		cfg: cfg,
		cni: libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, cfg.CacheDir, exec),
		log: log,
	}
	cniVersion, err := n.pluginVersion(ctx)
	if err != nil {
		return nil, err
	}
	conf, err := confList(cfg, cniVersion)
	if err != nil {
		return nil, err
	}
	if n.list, err = libcni.NetworkConfFromBytes(conf); err != nil {
		return nil, fmt.Errorf("cni: parse our own conflist: %w", err)
	}
	for _, d := range []string{cfg.DataDir, cfg.CacheDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("cni: create %s: %w", d, err)
		}
	}
	if err := writeFileAtomic(filepath.Join(cfg.ConfDir, ConfFile), conf); err != nil {
		return nil, err
	}
	log.Info().Str("cidr", cfg.PodCIDR.String()).Str("bridge", cfg.BridgeName).
		Str("cni_version", cniVersion).Msg("pod network configured")
	return n, nil
}

// pluginVersion finds every plugin and returns the best conflist version
// all of them speak.
func (n *Network) pluginVersion(ctx context.Context) (string, error) {
	supported := slices.Clone(cniVersions)
	for _, p := range requiredPlugins {
		if _, err := invoke.FindInPath(p, n.cfg.PluginDirs); err != nil {
			return "", fmt.Errorf("cni: %w: no %q in %s", ErrPluginsMissing, p, strings.Join(n.cfg.PluginDirs, ", "))
		}
		info, err := n.cni.GetVersionInfo(ctx, p)
		if err != nil {
			return "", fmt.Errorf("cni: %w: %s does not run: %w", ErrPluginsMissing, p, err)
		}
		speaks := info.SupportedVersions()
		supported = slices.DeleteFunc(supported, func(v string) bool { return !slices.Contains(speaks, v) })
	}
	if len(supported) == 0 {
		return "", fmt.Errorf("cni: %w: the plugins in %s are too old (need CNI %s)",
			ErrPluginsMissing, strings.Join(n.cfg.PluginDirs, ", "), strings.Join(cniVersions, " or "))
	}
	return supported[0], nil
}

// Config is the network's configuration with defaults filled in.
func (n *Network) Config() Config { return n.cfg }

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cni: create %s: %w", filepath.Dir(path), err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("cni: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("cni: write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("cni: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cni: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("cni: write %s: %w", path, err)
	}
	return nil
}

// stderrLog logs what plugins print on stderr; their errors come back on
// stdout as results, stderr only carries remarks.
type stderrLog struct{ log zerolog.Logger }

func (w stderrLog) Write(p []byte) (int, error) {
	w.log.Warn().Str("stderr", strings.TrimSpace(string(p))).Msg("cni plugin wrote to stderr")
	return len(p), nil
}
