package images

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/remotes/docker"
)

// RegistryConfig says how to reach registries. It is part of the agent's
// configuration file. Hosts are written as in image references: "docker.io",
// "registry.example.com", "10.0.0.5:5000".
type RegistryConfig struct {
	// Mirrors lists, per registry host, endpoints tried in order before the
	// registry itself: "https://mirror.lan", "mirror.lan:5000" (https) or
	// "http://10.0.0.5:5000" (the host must then be in Insecure).
	Mirrors map[string][]string `yaml:"mirrors,omitempty"`
	// Auth holds credentials per registry or mirror host.
	Auth map[string]Credentials `yaml:"auth,omitempty"`
	// Insecure hosts (registry or mirror, "host" or "host:port") may be
	// reached over plain http or over TLS without verifying the
	// certificate: https is tried first, unverified, then http.
	Insecure []string `yaml:"insecure,omitempty"`
	// CAFiles maps a host to a PEM bundle of CAs trusted for it, in
	// addition to the system's.
	CAFiles map[string]string `yaml:"caFiles,omitempty"`
}

// Credentials for a registry: a user name and password, or an identity
// token as Password with an empty Username.
type Credentials struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// endpoint is one place to pull from: a mirror or the registry itself.
type endpoint struct {
	scheme string // "https", or "http" for an explicit http:// mirror
	host   string // host[:port]
	path   string // API root, "/v2" unless the mirror URL names a prefix
	mirror bool
}

// Validate checks mirror URLs, that plain http is only used with hosts
// listed as Insecure, and that CA files load.
func (c RegistryConfig) Validate() error {
	for reg, mirrors := range c.Mirrors {
		for _, m := range mirrors {
			ep, err := parseMirror(m)
			if err != nil {
				return fmt.Errorf("%w: mirror %q of %s: %w", ErrInvalidConfig, m, reg, err)
			}
			if ep.scheme == "http" && !c.insecure(ep.host) {
				return fmt.Errorf("%w: mirror %q of %s is plain http but %s is not in insecure", ErrInvalidConfig, m, reg, ep.host)
			}
		}
	}
	for host, file := range c.CAFiles {
		if _, err := loadCAs(file); err != nil {
			return fmt.Errorf("%w: CA file of %s: %w", ErrInvalidConfig, host, err)
		}
	}
	return nil
}

func parseMirror(s string) (endpoint, error) {
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return endpoint{}, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return endpoint{}, fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" || u.RawQuery != "" || u.User != nil {
		return endpoint{}, fmt.Errorf("want scheme://host[:port][/path]")
	}
	path := strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(path, "/v2") {
		path += "/v2"
	}
	return endpoint{scheme: u.Scheme, host: u.Host, path: path, mirror: true}, nil
}

// endpoints returns where to pull images of registry host from, in order.
func (c RegistryConfig) endpoints(host string) []endpoint {
	var eps []endpoint
	for _, m := range c.Mirrors[host] {
		if ep, err := parseMirror(m); err == nil { // Validate reported it
			eps = append(eps, ep)
		}
	}
	upstream := host
	if host == "docker.io" {
		upstream = "registry-1.docker.io"
	}
	return append(eps, endpoint{scheme: "https", host: upstream, path: "/v2"})
}

// insecure reports whether host ("name" or "name:port") is listed in
// Insecure, by itself or by its name without the port.
func (c RegistryConfig) insecure(host string) bool {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	return slices.Contains(c.Insecure, host) || slices.Contains(c.Insecure, name)
}

// lookup finds a per-host setting by "host:port", then by "host"; Docker
// Hub's API host also answers to "docker.io".
func lookup[V any](m map[string]V, host string) (V, bool) {
	if v, ok := m[host]; ok {
		return v, true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		if v, ok := m[h]; ok {
			return v, true
		}
	}
	if host == "registry-1.docker.io" || host == "index.docker.io" {
		v, ok := m["docker.io"]
		return v, ok
	}
	var zero V
	return zero, false
}

func loadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// hostClients builds containerd RegistryHosts from a RegistryConfig and
// keeps one HTTP client per endpoint so connections are reused across
// pulls. CA files are read when an endpoint is first used.
type hostClients struct {
	cfg RegistryConfig

	mu      sync.Mutex
	clients map[string]*http.Client // by scheme://host
}

func newHostClients(cfg RegistryConfig) *hostClients {
	return &hostClients{cfg: cfg, clients: map[string]*http.Client{}}
}

// hosts is a docker.RegistryHosts.
func (h *hostClients) hosts(registry string) ([]docker.RegistryHost, error) {
	eps := h.cfg.endpoints(registry)
	out := make([]docker.RegistryHost, 0, len(eps))
	for _, ep := range eps {
		client, err := h.client(ep)
		if err != nil {
			return nil, err
		}
		caps := docker.HostCapabilityPull | docker.HostCapabilityResolve
		if !ep.mirror {
			caps |= docker.HostCapabilityPush
		}
		out = append(out, docker.RegistryHost{
			Client: client,
			Authorizer: docker.NewDockerAuthorizer(
				docker.WithAuthClient(client),
				docker.WithAuthCreds(h.credentials),
			),
			Host:         ep.host,
			Scheme:       ep.scheme,
			Path:         ep.path,
			Capabilities: caps,
		})
	}
	return out, nil
}

func (h *hostClients) credentials(host string) (string, string, error) {
	c, _ := lookup(h.cfg.Auth, host)
	return c.Username, c.Password, nil
}

func (h *hostClients) client(ep endpoint) (*http.Client, error) {
	key := ep.scheme + "://" + ep.host
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.clients[key]; ok {
		return c, nil
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if file, ok := lookup(h.cfg.CAFiles, ep.host); ok {
		pool, err := loadCAs(file)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file of %s: %w", ErrInvalidConfig, ep.host, err)
		}
		tlsConfig.RootCAs = pool
	}
	var rt http.RoundTripper = docker.DefaultHTTPTransport(tlsConfig)
	if ep.scheme == "https" && h.cfg.insecure(ep.host) {
		// Unverified TLS first; after a TLS error (a plain http server
		// answers one) the fallback retries the host over http.
		tlsConfig.InsecureSkipVerify = true
		rt = docker.NewHTTPFallback(rt)
	}
	c := &http.Client{Transport: rt}
	h.clients[key] = c
	return c, nil
}
