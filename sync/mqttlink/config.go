package mqttlink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/outpost-edge/outpost/sync/protocol"
)

// ErrInvalid is wrapped by every configuration error.
var ErrInvalid = errors.New("invalid mqtt configuration")

// Config is the mqtt section of the agent configuration.
type Config struct {
	// Brokers are tried in order on every attempt: tcp://, mqtt://, ssl://,
	// tls://, mqtts://, ws:// or wss:// URLs ("tcp://broker:1883").
	Brokers  []string `yaml:"brokers"`
	Username string   `yaml:"username"`
	Password string   `yaml:"password"`
	TLS      TLS      `yaml:"tls"`
	// Prefix heads every topic (default outpost/v1).
	Prefix string `yaml:"prefix"`
	// TrustedKeys maps a key id to a base64 ed25519 public key. When set,
	// only documents signed by one of them are accepted.
	TrustedKeys map[string]string `yaml:"trustedKeys"`
	// StatusInterval is the shortest time between two status messages;
	// Heartbeat the longest.
	StatusInterval time.Duration `yaml:"statusInterval"`
	Heartbeat      time.Duration `yaml:"heartbeat"`
	// KeepAlive is MQTT's keep-alive: a dead link is noticed after about 1.5 times it.
	KeepAlive      time.Duration `yaml:"keepAlive"`
	ConnectTimeout time.Duration `yaml:"connectTimeout"`
	Backoff        Backoff       `yaml:"backoff"`
	// DeadLetters is how many rejected documents are remembered.
	DeadLetters int `yaml:"deadLetters"`
}

// TLS names the files of an ssl/tls/mqtts/wss connection.
type TLS struct {
	// CAFile verifies the broker; empty uses the system roots.
	CAFile string `yaml:"caFile"`
	// CertFile and KeyFile are the client certificate for mutual TLS.
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	// ServerName overrides the name checked in the broker's certificate.
	ServerName string `yaml:"serverName"`
}

// Backoff spaces reconnection attempts: a uniform draw in [0, min(Max,
// Min·2^failures)], failures reset once a connection stayed up Reset.
type Backoff struct {
	Min   time.Duration `yaml:"min"`
	Max   time.Duration `yaml:"max"`
	Reset time.Duration `yaml:"reset"`
}

// DefaultConfig has every default; Brokers is empty (the link is off).
func DefaultConfig() Config {
	return Config{
		Prefix:         protocol.DefaultPrefix,
		StatusInterval: time.Second,
		Heartbeat:      time.Minute,
		KeepAlive:      30 * time.Second,
		ConnectTimeout: 30 * time.Second,
		Backoff:        Backoff{Min: time.Second, Max: 2 * time.Minute, Reset: time.Minute},
		DeadLetters:    32,
	}
}

// Enabled reports whether a broker is configured.
func (c *Config) Enabled() bool { return len(c.Brokers) > 0 }

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Prefix == "" {
		c.Prefix = d.Prefix
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = d.StatusInterval
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = d.Heartbeat
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = d.KeepAlive
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = d.ConnectTimeout
	}
	if c.Backoff.Min == 0 {
		c.Backoff.Min = d.Backoff.Min
	}
	if c.Backoff.Max == 0 {
		c.Backoff.Max = d.Backoff.Max
	}
	if c.Backoff.Reset == 0 {
		c.Backoff.Reset = d.Backoff.Reset
	}
	if c.DeadLetters == 0 {
		c.DeadLetters = d.DeadLetters
	}
	return c
}

var tlsSchemes = map[string]bool{"ssl": true, "tls": true, "mqtts": true, "wss": true}
var plainSchemes = map[string]bool{"tcp": true, "mqtt": true, "ws": true}

// Validate names every invalid key at once (keys as in the agent config,
// under "mqtt."). Zero durations are valid: they take the defaults.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: mqtt.%s: %s", ErrInvalid, key, fmt.Sprintf(format, args...)))
	}
	usesTLS := false
	for i, b := range c.Brokers {
		u, err := url.Parse(b)
		switch {
		case err != nil:
			bad(fmt.Sprintf("brokers[%d]", i), "%v", err)
		case !tlsSchemes[u.Scheme] && !plainSchemes[u.Scheme]:
			bad(fmt.Sprintf("brokers[%d]", i), "scheme %q: want tcp, mqtt, ssl, tls, mqtts, ws or wss", u.Scheme)
		case u.Host == "":
			bad(fmt.Sprintf("brokers[%d]", i), "%q has no host", b)
		default:
			usesTLS = usesTLS || tlsSchemes[u.Scheme]
		}
	}
	if c.Prefix != "" {
		if err := protocol.ValidPrefix(c.Prefix); err != nil {
			bad("prefix", "%v", err)
		}
	}
	if _, err := protocol.ParseKeys(c.TrustedKeys); err != nil {
		bad("trustedKeys", "%v", err)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls.certFile", "certFile and keyFile go together")
	}
	if !usesTLS && (c.TLS.CAFile != "" || c.TLS.CertFile != "") && len(c.Brokers) > 0 {
		bad("tls", "TLS files are set but no broker URL uses ssl, tls, mqtts or wss")
	}
	for key, d := range map[string]time.Duration{"statusInterval": c.StatusInterval, "heartbeat": c.Heartbeat,
		"keepAlive": c.KeepAlive, "connectTimeout": c.ConnectTimeout, "backoff.min": c.Backoff.Min,
		"backoff.max": c.Backoff.Max, "backoff.reset": c.Backoff.Reset} {
		if d < 0 {
			bad(key, "must not be negative")
		}
	}
	if c.Heartbeat != 0 && c.StatusInterval != 0 && c.Heartbeat < c.StatusInterval {
		bad("heartbeat", "must be at least statusInterval (%s)", c.StatusInterval)
	}
	if c.Backoff.Max != 0 && c.Backoff.Min > c.Backoff.Max {
		bad("backoff.max", "must be at least backoff.min (%s)", c.Backoff.Min)
	}
	if c.KeepAlive != 0 && c.KeepAlive < time.Second {
		bad("keepAlive", "must be at least 1s")
	}
	if c.DeadLetters < 0 {
		bad("deadLetters", "must not be negative")
	}
	return errors.Join(errs...)
}

// tlsConfig reads the TLS files; it runs before every connection attempt so
// a renewed certificate is picked up without a restart.
func (c *Config) tlsConfig() (*tls.Config, error) { return c.TLS.Config() }

// Config reads the files and returns the TLS settings of a connection to the
// broker: TLS 1.2 at least, the CA (else the system roots), the client
// certificate. The agent and outpostctl connect the same way.
func (t TLS) Config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tls.caFile: %w", ErrInvalid, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: tls.caFile %s holds no PEM certificate", ErrInvalid, t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tls.certFile/keyFile: %w", ErrInvalid, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
