// Package config reads the agent's configuration file: one strict YAML
// document whose every key and default is listed in docs/config.md. An
// unknown key is an error naming it, so a typo never silently falls back to a
// default. Command-line flags override the file (cmd/outpost applies them).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// DefaultPath is where the agent looks for its configuration.
const DefaultPath = "/etc/outpost/config.yaml"

// ErrInvalid is wrapped by every configuration error.
var ErrInvalid = errors.New("invalid configuration")

// Config is the agent's configuration. Later components add their sections.
type Config struct {
	// NodeName identifies the node to the control plane; default: the hostname.
	NodeName string `yaml:"nodeName"`
	// DataDir holds the store, containerd's root and the pods' files.
	DataDir string `yaml:"dataDir"`
	// ManifestDir holds static pod manifests.
	ManifestDir string `yaml:"manifestDir"`
	// Groups lists the groups this node belongs to, in priority order.
	Groups []string `yaml:"groups"`
	Log    Log      `yaml:"log"`
	Store  Store    `yaml:"store"`
	Net    Network  `yaml:"network"`
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

// Network configures addresses the node allocates.
type Network struct {
	// ServiceCIDR is where service cluster IPs are allocated from.
	ServiceCIDR string `yaml:"serviceCIDR"`
}

// Default returns the configuration used when no file exists.
func Default() Config {
	host, _ := os.Hostname()
	return Config{
		NodeName:    host,
		DataDir:     "/var/lib/outpost",
		ManifestDir: "/etc/outpost/manifests",
		Log:         Log{Level: "info", Format: "auto"},
		Store:       Store{OutboxMaxMessages: 10000, OutboxMaxBytes: 8 << 20, EventsKeep: 1000},
		Net:         Network{ServiceCIDR: "10.43.0.0/16"},
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
	if c.NodeName == "" {
		bad("nodeName", "required (the hostname is empty)")
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
	if c.Store.OutboxMaxBytes < 1024 {
		bad("store.outboxMaxBytes", "must be at least 1024")
	}
	if c.Store.EventsKeep < 1 {
		bad("store.eventsKeep", "must be at least 1")
	}
	if _, err := c.ServiceCIDR(); err != nil {
		bad("network.serviceCIDR", "%v", err)
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
	if p.Addr().Is4() && p.Bits() > 30 || p.Addr().Is6() && p.Bits() > 126 {
		return p, fmt.Errorf("%s is too small", p)
	}
	return p, nil
}
