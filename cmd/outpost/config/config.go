// Package config reads the agent's configuration file: one strict YAML
// document whose every key and default is listed in docs/config.md. An
// unknown key is an error naming it, so a typo never silently falls back to a
// default. Command-line flags override the file (cmd/outpost applies them).
//
// It gathers the settings of every part of the node (the runtime's, image
// registries', eviction thresholds, the MQTT link's) into one file, so it
// lives with the wiring in cmd/outpost: no package of agent/ imports the
// transport for its settings.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/outpost-edge/outpost/agent/identity"
	"github.com/outpost-edge/outpost/agent/nodestatus"
	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/images"
	"github.com/outpost-edge/outpost/sync/mqttlink"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// prefixRE keeps a derived node name (prefix, '-', 8 hex digits) a
// DNS-1123 label of at most 63 characters.
var prefixRE = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// DefaultPath is where the agent looks for its configuration.
const DefaultPath = "/etc/outpost/config.yaml"

// ErrInvalid is wrapped by every configuration error.
var ErrInvalid = errors.New("invalid configuration")

// Config is the agent's configuration. Later components add their sections.
type Config struct {
	// NodeName identifies the node to the control plane. Empty or "auto"
	// applies the node name rule of agent/identity (the hostname unless it
	// is a stock one, else NodeNamePrefix and 8 hex digits of the device).
	NodeName string `yaml:"nodeName"`
	// NodeNamePrefix starts a name the rule derives: <prefix>-1a2b3c4d.
	NodeNamePrefix string `yaml:"nodeNamePrefix"`
	// DataDir holds the store, containerd's root and the pods' files.
	DataDir string `yaml:"dataDir"`
	// ManifestDir holds static pod manifests.
	ManifestDir string `yaml:"manifestDir"`
	// Groups lists the groups this node belongs to, in priority order.
	Groups     []string   `yaml:"groups"`
	Log        Log        `yaml:"log"`
	Store      Store      `yaml:"store"`
	Net        Network    `yaml:"network"`
	Containerd Containerd `yaml:"containerd"`
	Runtime    Runtime    `yaml:"runtime"`
	Images     Images     `yaml:"images"`
	Pods       Pods       `yaml:"pods"`
	Node       Node       `yaml:"node"`
	// MQTT is the link to the control plane; off while no broker is set.
	MQTT mqttlink.Config `yaml:"mqtt"`
}

// Node sizes what the node offers to pods and when it is under pressure.
type Node struct {
	// MaxPods is the pods capacity.
	MaxPods int `yaml:"maxPods"`
	// ReservedCPU and ReservedMemory are kept for the OS and the agent:
	// allocatable is capacity minus these (and the hard eviction thresholds).
	ReservedCPU    api.Quantity `yaml:"reservedCPU"`
	ReservedMemory api.Quantity `yaml:"reservedMemory"`
	// EvictionHard are kubelet-style thresholds ("memory.available<100Mi",
	// "nodefs.available<10%", "nodefs.inodesFree<5%", "pid.available<5%");
	// an empty list turns hard eviction off.
	EvictionHard []string `yaml:"evictionHard"`
}

// Thresholds parses Node.EvictionHard (validated by Validate). An explicit
// empty list ("evictionHard: []") is no thresholds at all: an empty, non-nil
// slice, which nodestatus.New keeps (it turns only nil into its defaults).
// A null list means the defaults.
func (n Node) Thresholds() []nodestatus.Threshold {
	if n.EvictionHard == nil {
		return nodestatus.DefaultThresholds()
	}
	out := []nodestatus.Threshold{}
	for _, s := range n.EvictionHard {
		if t, err := nodestatus.ParseThreshold(s); err == nil {
			out = append(out, t)
		}
	}
	return out
}

// Pods tunes how the agent restarts containers.
type Pods struct {
	// BackoffInitial, BackoffMax and BackoffReset are the crash-loop
	// backoff: the first restart is at once, then BackoffInitial doubling up
	// to BackoffMax; a container that ran BackoffReset resets it.
	BackoffInitial time.Duration `yaml:"backoffInitial"`
	BackoffMax     time.Duration `yaml:"backoffMax"`
	BackoffReset   time.Duration `yaml:"backoffReset"`
	// PidsLimit caps the processes of each pod (and of each of its
	// containers), as kubelet's podPidsLimit; -1 sets no limit.
	PidsLimit int64 `yaml:"pidsLimit"`
}

// Containerd says which containerd runs the containers.
type Containerd struct {
	// Address of an existing containerd socket to use instead of the
	// embedded one (devices that already run containerd).
	Address string `yaml:"address"`
	// StateDir holds sockets, shim sockets, log FIFOs and pinned network
	// namespaces; on tmpfs, at most 40 characters.
	StateDir string `yaml:"stateDir"`
}

// Runtime is what containers may do and how their logs are kept.
type Runtime struct {
	// AllowPrivileged lets pods run privileged containers.
	AllowPrivileged bool `yaml:"allowPrivileged"`
	// AllowHostNetwork lets pods use the node's network namespace.
	AllowHostNetwork bool `yaml:"allowHostNetwork"`
	// HostPathPrefixes are the host directories hostPath volumes may use;
	// empty turns hostPath off.
	HostPathPrefixes []string `yaml:"hostPathPrefixes"`
	// LogMaxSize is the size past which a container's log file is rotated.
	LogMaxSize string `yaml:"logMaxSize"`
	// LogMaxFiles bounds a container's log files, the live one included.
	LogMaxFiles int `yaml:"logMaxFiles"`
	// PodLogRetention keeps a deleted pod's logs this long; 0 deletes
	// them with the pod.
	PodLogRetention time.Duration `yaml:"podLogRetention"`
}

// Images configures registries and image garbage collection.
type Images struct {
	Registries images.RegistryConfig `yaml:"registries"`
	// GCHighPercent is the disk use (of the filesystem holding the data
	// dir) above which unused images are deleted, down to GCLowPercent.
	GCHighPercent int `yaml:"gcHighPercent"`
	GCLowPercent  int `yaml:"gcLowPercent"`
}

// Log configures logging.
type Log struct {
	// Level is trace, debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is auto (console on a terminal, JSON otherwise), console or json.
	Format string `yaml:"format"`
}

// Store bounds what the store keeps.
type Store struct {
	// OutboxMaxMessages and OutboxMaxBytes bound the queue of messages waiting
	// for the link; past either, the oldest are dropped and counted.
	OutboxMaxMessages int `yaml:"outboxMaxMessages"`
	OutboxMaxBytes    int `yaml:"outboxMaxBytes"`
	// EventsKeep is how many recent events are kept for local display.
	EventsKeep int `yaml:"eventsKeep"`
}

// Network configures pod networking and the addresses the node allocates.
type Network struct {
	// ServiceCIDR is where service cluster IPs are allocated from.
	ServiceCIDR string `yaml:"serviceCIDR"`
	// PodCIDR is where pod IPs come from (CNI host-local).
	PodCIDR string `yaml:"podCIDR"`
	// Bridge is the Linux bridge pods attach to.
	Bridge string `yaml:"bridge"`
	// MTU of pod interfaces; 0 leaves the plugin's default.
	MTU int `yaml:"mtu"`
	// CNIPluginDirs are searched for the CNI plugin binaries.
	CNIPluginDirs []string `yaml:"cniPluginDirs"`
	// LocalhostNodePorts also serves NodePorts and hostPorts on 127.0.0.1;
	// the agent then sets net.ipv4.conf.all.route_localnet=1. Off by
	// default, as in kube-proxy's nftables mode.
	LocalhostNodePorts bool `yaml:"localhostNodePorts"`
}

// Default returns the configuration used when no file exists.
func Default() Config {
	return Config{
		NodeName:       identity.Auto,
		NodeNamePrefix: identity.DefaultPrefix,
		DataDir:        "/var/lib/outpost",
		ManifestDir:    "/etc/outpost/manifests",
		Log:            Log{Level: "info", Format: "auto"},
		Store:          Store{OutboxMaxMessages: 10000, OutboxMaxBytes: 8 << 20, EventsKeep: 1000},
		Net: Network{ServiceCIDR: "10.43.0.0/16", PodCIDR: "10.88.0.0/16", Bridge: "outpost0",
			CNIPluginDirs: []string{"/usr/lib/cni", "/opt/cni/bin"}},
		Containerd: Containerd{StateDir: "/run/outpost"},
		Runtime:    Runtime{LogMaxSize: "10Mi", LogMaxFiles: 5},
		Images:     Images{GCHighPercent: 85, GCLowPercent: 80},
		Pods:       Pods{BackoffInitial: 10 * time.Second, BackoffMax: 5 * time.Minute, BackoffReset: 10 * time.Minute, PidsLimit: 1024},
		Node: Node{MaxPods: 110, ReservedCPU: api.MustParseQuantity("100m"), ReservedMemory: api.MustParseQuantity("128Mi"),
			EvictionHard: []string{"memory.available<100Mi", "nodefs.available<10%", "nodefs.inodesFree<5%", "pid.available<5%"}},
		MQTT: mqttlink.DefaultConfig(),
	}
}

// Load reads path over the defaults. A missing file is not an error when
// optional is set (the default path need not exist); any other problem is.
func Load(path string, optional bool) (Config, error) {
	cfg := Default()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && optional {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	if err := Parse(data, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes data strictly over cfg and validates the result.
func Parse(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file decodes to io.EOF: it means "all defaults".
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return cfg.Validate()
}

// Validate names every invalid key at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, args...)))
	}
	if c.NodeName != "" && c.NodeName != identity.Auto {
		if err := protocol.ValidLevel(c.NodeName); err != nil {
			bad("nodeName", "%v (or \"auto\" for the node name rule)", err)
		}
	}
	if p := c.NodeNamePrefix; len(p) > 54 || !prefixRE.MatchString(p) {
		bad("nodeNamePrefix", "must be 1 to 54 lower-case letters, digits and '-', starting with a letter, not %q", p)
	}
	if !filepath.IsAbs(c.DataDir) {
		bad("dataDir", "must be an absolute path, not %q", c.DataDir)
	}
	if c.ManifestDir != "" && !filepath.IsAbs(c.ManifestDir) {
		bad("manifestDir", "must be an absolute path, not %q", c.ManifestDir)
	}
	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be trace, debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "console", "json":
	default:
		bad("log.format", "must be auto, console or json, not %q", c.Log.Format)
	}
	if c.Store.OutboxMaxMessages < 1 {
		bad("store.outboxMaxMessages", "must be at least 1")
	}
	if c.Store.OutboxMaxBytes < 64<<10 { // room for the largest event (about 2.3 KB) many times over
		bad("store.outboxMaxBytes", "must be at least 65536")
	}
	if c.Store.EventsKeep < 1 {
		bad("store.eventsKeep", "must be at least 1")
	}
	if _, err := c.ServiceCIDR(); err != nil {
		bad("network.serviceCIDR", "%v", err)
	}
	if p, err := netip.ParsePrefix(c.Net.PodCIDR); err != nil || p.Masked() != p || !p.Addr().Is4() || p.Bits() > 28 {
		bad("network.podCIDR", "must be an IPv4 prefix without host bits, /28 or larger, not %q", c.Net.PodCIDR)
	}
	if c.Net.Bridge == "" || len(c.Net.Bridge) > 15 {
		bad("network.bridge", "must be an interface name of 1 to 15 characters")
	}
	if c.Net.MTU != 0 && (c.Net.MTU < 576 || c.Net.MTU > 65535) {
		bad("network.mtu", "must be 0 or between 576 and 65535")
	}
	if d := c.Containerd.StateDir; !filepath.IsAbs(d) || len(d) > 40 {
		bad("containerd.stateDir", "must be an absolute path of at most 40 characters (shim sockets live there), not %q", d)
	}
	for i, p := range c.Runtime.HostPathPrefixes {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p {
			bad(fmt.Sprintf("runtime.hostPathPrefixes[%d]", i), "must be an absolute clean path, not %q", p)
		}
	}
	if _, err := c.LogMaxSize(); err != nil {
		bad("runtime.logMaxSize", "%v", err)
	}
	if c.Runtime.PodLogRetention < 0 {
		bad("runtime.podLogRetention", "must not be negative")
	}
	if c.Runtime.LogMaxFiles < 1 {
		bad("runtime.logMaxFiles", "must be at least 1")
	}
	if err := c.Images.Registries.Validate(); err != nil {
		bad("images.registries", "%v", err)
	}
	if h, l := c.Images.GCHighPercent, c.Images.GCLowPercent; h < 1 || h > 100 || l < 1 || l >= h {
		bad("images.gcHighPercent", "must be 1-100 and above gcLowPercent (%d, %d)", h, l)
	}
	if c.Node.MaxPods < 1 || c.Node.MaxPods > api.MaxPods*10 {
		bad("node.maxPods", "must be between 1 and %d", api.MaxPods*10)
	}
	if c.Node.ReservedCPU.Sign() < 0 || c.Node.ReservedMemory.Sign() < 0 {
		bad("node.reservedCPU", "reservations must not be negative")
	}
	for i, e := range c.Node.EvictionHard {
		if _, err := nodestatus.ParseThreshold(e); err != nil {
			bad(fmt.Sprintf("node.evictionHard[%d]", i), "%v", err)
		}
	}
	if err := c.MQTT.Validate(); err != nil {
		errs = append(errs, err)
	}
	if p := c.Pods; p.BackoffInitial <= 0 || p.BackoffMax < p.BackoffInitial || p.BackoffReset <= 0 {
		bad("pods.backoffInitial", "backoffInitial must be positive, backoffMax at least backoffInitial, backoffReset positive")
	}
	if l := c.Pods.PidsLimit; l != -1 && l < 16 {
		bad("pods.pidsLimit", "must be at least 16, or -1 for no limit (%d)", l)
	}
	return errors.Join(errs...)
}

// ServiceCIDR parses Net.ServiceCIDR.
func (c *Config) ServiceCIDR() (netip.Prefix, error) {
	p, err := netip.ParsePrefix(c.Net.ServiceCIDR)
	if err != nil {
		return p, err
	}
	if p.Masked() != p {
		return p, fmt.Errorf("%s has host bits set (did you mean %s?)", p, p.Masked())
	}
	if !p.Addr().Is4() {
		// netrules routes IPv4 services only: IPv6 cluster IPs would be
		// allocated and never routed.
		return p, fmt.Errorf("%s: services are IPv4 only on this node", p)
	}
	if p.Bits() > 30 {
		return p, fmt.Errorf("%s is too small", p)
	}
	return p, nil
}

// LogMaxSize parses Runtime.LogMaxSize ("10Mi").
func (c *Config) LogMaxSize() (int64, error) {
	q, err := api.ParseQuantity(c.Runtime.LogMaxSize)
	if err != nil {
		return 0, err
	}
	if q.Value() < 4096 {
		return 0, fmt.Errorf("%s is less than 4Ki", q)
	}
	return q.Value(), nil
}

// PodCIDR parses Net.PodCIDR.
func (c *Config) PodCIDR() netip.Prefix { return netip.MustParsePrefix(c.Net.PodCIDR) }
