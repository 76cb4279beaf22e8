package images_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/images"
)

// clock is an injected clock: Sleep advances it and records the delay.
type clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func (c *clock) takeSleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sleeps
	c.sleeps = nil
	return s
}

func newPuller(t *testing.T, c *client.Client, cfg images.PullerConfig, clk *clock) *images.Puller {
	t.Helper()
	cfg.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	if clk != nil {
		cfg.Now, cfg.Sleep = clk.Now, clk.Sleep
	}
	p, err := images.NewPuller(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// ensure calls EnsureResult and fails the test on error.
func ensure(t *testing.T, p *images.Puller, ref, policy string) images.Result {
	t.Helper()
	began := time.Now()
	r, err := p.EnsureResult(testCtx(t), ref, policy)
	if err != nil {
		t.Fatalf("ensure %s %s: %v", ref, policy, err)
	}
	t.Logf("ensure %s %s: pulled=%v in %v", ref, policy, r.Pulled, time.Since(began).Round(time.Millisecond))
	return r
}

func wantReason(t *testing.T, err error, reason string) {
	t.Helper()
	if got := images.Reason(err); got != reason {
		t.Fatalf("reason of %v = %q, want %q", err, got, reason)
	}
}

func TestPullPlainHTTP(t *testing.T) {
	s := server(t)
	reg := startRegistry(t, registryOpts{})
	reg.push("outpost/busybox", "1", busybox(t))
	p := newPuller(t, s.Client(), images.PullerConfig{Registry: images.RegistryConfig{Insecure: []string{"127.0.0.1"}}}, nil)

	ref := reg.host + "/outpost/busybox:1"
	r := ensure(t, p, ref, api.PullIfNotPresent)
	if !r.Pulled || r.Image.Name() != ref || r.Image.Target().Digest != busybox(t).digest() {
		t.Fatalf("pulled=%v %s %s", r.Pulled, r.Image.Name(), r.Image.Target().Digest)
	}
	if ok, err := r.Image.IsUnpacked(testCtx(t), images.DefaultSnapshotter); !ok || err != nil {
		t.Fatalf("unpacked = %v, %v", ok, err)
	}
	// Always pulls again (a manifest check; the content is there).
	if r := ensure(t, p, ref, api.PullAlways); !r.Pulled || r.Offline != nil {
		t.Fatalf("always: pulled=%v offline=%v", r.Pulled, r.Offline)
	}
	// Not in the registry: a permanent failure, no retries.
	_, err := p.Ensure(testCtx(t), reg.host+"/outpost/missing:1", api.PullIfNotPresent)
	wantReason(t, err, "ErrImagePull")
}

func TestPullTLS(t *testing.T) {
	s := server(t)
	ca := newTestCA(t)
	reg := startRegistry(t, registryOpts{tls: ca})
	reg.push("outpost/busybox", "1", busybox(t))
	ref := reg.host + "/outpost/busybox:1"

	clk := newClock()
	untrusted := newPuller(t, s.Client(), images.PullerConfig{}, clk)
	_, err := untrusted.Ensure(testCtx(t), ref, api.PullIfNotPresent)
	wantReason(t, err, "ErrImagePull")
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error does not mention the certificate: %v", err)
	}
	if s := clk.takeSleeps(); len(s) != 0 {
		t.Errorf("an untrusted certificate was retried: %v", s)
	}

	trusted := newPuller(t, s.Client(), images.PullerConfig{Registry: images.RegistryConfig{
		CAFiles: map[string]string{reg.host: ca.file},
	}}, nil)
	if r := ensure(t, trusted, ref, api.PullIfNotPresent); !r.Pulled {
		t.Fatal("not pulled")
	}

	// Insecure: unverified TLS is accepted.
	if err := s.Client().ImageService().Delete(testCtx(t), ref); err != nil {
		t.Fatal(err)
	}
	insecure := newPuller(t, s.Client(), images.PullerConfig{Registry: images.RegistryConfig{Insecure: []string{reg.host}}}, nil)
	if r := ensure(t, insecure, ref, api.PullIfNotPresent); !r.Pulled {
		t.Fatal("not pulled")
	}
}

func TestPullWithCredentials(t *testing.T) {
	s := server(t)
	reg := startRegistry(t, registryOpts{tls: newTestCA(t), user: "edge", pass: "s3cret"})
	reg.push("outpost/busybox", "1", busybox(t))
	ref := reg.host + "/outpost/busybox:1"
	insecure := []string{reg.host}

	for _, tc := range []struct {
		name string
		auth map[string]images.Credentials
		ok   bool
	}{
		{"none", nil, false},
		{"wrong", map[string]images.Credentials{reg.host: {Username: "edge", Password: "nope"}}, false},
		{"by host:port", map[string]images.Credentials{reg.host: {Username: "edge", Password: "s3cret"}}, true},
		{"by host", map[string]images.Credentials{"127.0.0.1": {Username: "edge", Password: "s3cret"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			p := newPuller(t, s.Client(), images.PullerConfig{Registry: images.RegistryConfig{Auth: tc.auth, Insecure: insecure}}, clk)
			_, err := p.Ensure(testCtx(t), ref, api.PullAlways)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantReason(t, err, "ErrImagePull")
			if !strings.Contains(err.Error(), "unauthorized") {
				t.Errorf("error does not say unauthorized: %v", err)
			}
			if s := clk.takeSleeps(); len(s) != 0 {
				t.Errorf("refused credentials were retried: %v", s)
			}
		})
	}
}

func TestPullThroughMirror(t *testing.T) {
	s := server(t)
	reg := startRegistry(t, registryOpts{})
	reg.push("outpost/busybox", "1", busybox(t))
	const ref = "registry.outpost.invalid/outpost/busybox:1" // never resolves

	clk := newClock()
	p := newPuller(t, s.Client(), images.PullerConfig{Registry: images.RegistryConfig{
		Mirrors:  map[string][]string{"registry.outpost.invalid": {"http://" + reg.host}},
		Insecure: []string{reg.host},
	}}, clk)
	r := ensure(t, p, ref, api.PullIfNotPresent)
	if r.Image.Name() != ref || r.Image.Target().Digest != busybox(t).digest() {
		t.Fatalf("got %s %s", r.Image.Name(), r.Image.Target().Digest)
	}

	// Without the mirror the registry's name does not resolve.
	direct := newPuller(t, s.Client(), images.PullerConfig{Attempts: 2}, clk)
	_, err := direct.Ensure(testCtx(t), "registry.outpost.invalid/outpost/other:1", api.PullIfNotPresent)
	wantReason(t, err, "ErrImagePull")
}

func TestPullPolicies(t *testing.T) {
	s := server(t)
	reg := startRegistry(t, registryOpts{})
	reg.push("outpost/busybox", "1", busybox(t))
	ref := reg.host + "/outpost/busybox:1"
	clk := newClock()
	p := newPuller(t, s.Client(), images.PullerConfig{Registry: images.RegistryConfig{Insecure: []string{"127.0.0.1"}}}, clk)

	_, err := p.Ensure(testCtx(t), ref, api.PullNever)
	wantReason(t, err, "ErrImageNeverPull")
	if !errors.Is(err, images.ErrImageNeverPull) {
		t.Fatal(err)
	}
	ensure(t, p, ref, api.PullIfNotPresent)

	reg.stop()
	for _, policy := range []string{api.PullNever, api.PullIfNotPresent} {
		if r := ensure(t, p, ref, policy); r.Pulled || r.Offline != nil {
			t.Errorf("%s: pulled=%v offline=%v", policy, r.Pulled, r.Offline)
		}
	}
	if s := clk.takeSleeps(); len(s) != 0 {
		t.Errorf("retries without a pull: %v", s)
	}

	// Always with the registry down: the present image, after retries.
	r := ensure(t, p, ref, api.PullAlways)
	if r.Pulled || r.Offline == nil || r.Image.Target().Digest != busybox(t).digest() {
		t.Fatalf("always offline: pulled=%v offline=%v", r.Pulled, r.Offline)
	}
	t.Logf("offline: %v", r.Offline)
	wantReason(t, r.Offline, "ErrImagePull")
	if s := clk.takeSleeps(); len(s) != images.DefaultPullAttempts-1 {
		t.Errorf("retry sleeps %v, want %d", s, images.DefaultPullAttempts-1)
	}
	// Again at once: the image is in back-off, no pull is tried.
	r = ensure(t, p, ref, api.PullAlways)
	wantReason(t, r.Offline, "ImagePullBackOff")
	if s := clk.takeSleeps(); len(s) != 0 {
		t.Errorf("pulled during back-off: %v", s)
	}

	for _, bad := range []string{"library/UPPER", "busybox@sha256:123", ""} {
		_, err := p.Ensure(testCtx(t), bad, api.PullIfNotPresent)
		wantReason(t, err, "InvalidImageName")
	}
	if _, err := p.Ensure(testCtx(t), ref, "Sometimes"); !errors.Is(err, images.ErrInvalidConfig) {
		t.Errorf("unknown policy: %v", err)
	}
}

// TestPullBackoff drives the per-image back-off with the injected clock;
// the relay refuses connections and counts them, proving that no request
// is made during back-off.
func TestPullBackoff(t *testing.T) {
	s := server(t)
	reg := startRegistry(t, registryOpts{})
	reg.push("outpost/busybox", "1", busybox(t))
	rel := startRelay(t, reg.host)
	rel.breakNow()
	ref := rel.addr() + "/outpost/busybox:1"
	clk := newClock()
	p := newPuller(t, s.Client(), images.PullerConfig{Registry: images.RegistryConfig{Insecure: []string{"127.0.0.1"}}}, clk)

	pull := func() error {
		_, err := p.Ensure(testCtx(t), ref, api.PullIfNotPresent)
		return err
	}
	if err := pull(); images.Reason(err) != "ErrImagePull" {
		t.Fatalf("first pull: %v", err)
	}
	if s := clk.takeSleeps(); len(s) != 2 || s[0] != time.Second || s[1] != 2*time.Second {
		t.Errorf("retry sleeps %v, want [1s 2s]", s)
	}
	for i, delay := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 300 * time.Second, 300 * time.Second} {
		rel.heal()
		rel.breakNow()
		clk.advance(delay - time.Second)
		err := pull()
		wantReason(t, err, "ImagePullBackOff")
		if !strings.Contains(err.Error(), "connection") && !strings.Contains(err.Error(), "EOF") {
			t.Errorf("back-off error lacks the last failure: %v", err)
		}
		if _, conns := rel.counts(); conns != 0 {
			t.Fatalf("step %d: %d connections during back-off", i, conns)
		}
		clk.advance(time.Second)
		wantReason(t, pull(), "ErrImagePull")
		clk.takeSleeps()
		if _, conns := rel.counts(); conns == 0 {
			t.Fatalf("step %d: no connection after back-off", i)
		}
	}
	rel.heal()
	clk.advance(300 * time.Second)
	if err := pull(); err != nil {
		t.Fatalf("pull after the registry is back: %v", err)
	}
}
