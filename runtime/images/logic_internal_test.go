package images

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/errdefs"
)

func TestBackoffSequence(t *testing.T) {
	b := newBackoff(10*time.Second, 5*time.Minute)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	fail := errors.New("boom")
	now := t0
	want := []time.Duration{10, 20, 40, 80, 160, 300, 300}
	for i, w := range want {
		if d := b.failed("img", now, fail); d != w*time.Second {
			t.Fatalf("failure %d: delay %v, want %vs", i+1, d, w)
		}
		if left, err := b.blocked("img", now.Add(w*time.Second-time.Millisecond)); left <= 0 || err != fail {
			t.Fatalf("failure %d: not blocked just before expiry (%v, %v)", i+1, left, err)
		}
		if left, _ := b.blocked("other", now); left != 0 {
			t.Fatal("back-off is not per image")
		}
		now = now.Add(w * time.Second)
		if left, _ := b.blocked("img", now); left != 0 {
			t.Fatalf("failure %d: blocked at expiry", i+1)
		}
	}
	// Quiet for more than 2*max: start over.
	now = now.Add(10*time.Minute + time.Second)
	if d := b.failed("img", now, fail); d != 10*time.Second {
		t.Fatalf("after a quiet spell: %v", d)
	}
	b.succeeded("img")
	if left, _ := b.blocked("img", now); left != 0 {
		t.Fatal("blocked after success")
	}
}

func TestReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("other"), ""},
		{fmt.Errorf("%w: x", ErrImagePull), "ErrImagePull"},
		{fmt.Errorf("%w: x", ErrImagePullBackOff), "ImagePullBackOff"},
		{fmt.Errorf("%w: x", ErrImageNeverPull), "ErrImageNeverPull"},
		{fmt.Errorf("%w: x", ErrInvalidImageName), "InvalidImageName"},
		{context.Canceled, ""},
	} {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestTransient(t *testing.T) {
	status := func(code int) error {
		return fmt.Errorf("resolve: %w", remoteerrors.ErrUnexpectedStatus{StatusCode: code, Status: fmt.Sprint(code)})
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"dns", &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}, true},
		{"eof mid layer", fmt.Errorf("copy: %w", io.ErrUnexpectedEOF), true},
		{"503", status(503), true},
		{"429", status(429), true},
		{"408", status(408), true},
		{"401", status(401), false},
		{"403", status(403), false},
		{"404", status(404), false},
		{"not found", fmt.Errorf("ref: %w", errdefs.ErrNotFound), false},
		{"bad credentials", fmt.Errorf("x: %w", docker.ErrInvalidAuthorization), false},
		{"unknown CA", fmt.Errorf("x: %w", x509.UnknownAuthorityError{}), false},
		{"schema 1", fmt.Errorf("x: %w", errdefs.ErrNotImplemented), false},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), false},
		{"deadline", context.DeadlineExceeded, false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("%s: transient = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"busybox", "docker.io/library/busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36"},
		{"me/app", "docker.io/me/app:latest"},
		{"docker.io/library/busybox:latest", "docker.io/library/busybox:latest"},
		{"localhost:5000/app", "localhost:5000/app:latest"},
		{"10.0.0.5:5000/a/b:v1", "10.0.0.5:5000/a/b:v1"},
		{"busybox@sha256:" + sha, "docker.io/library/busybox@sha256:" + sha},
		{"ghcr.io/o/app:1@sha256:" + sha, "ghcr.io/o/app:1@sha256:" + sha},
		{"", ""},
		{"library/UPPER", ""},
		{"busybox@sha256:abc", ""},
		{sha, ""}, // an image ID, not a name
		{"a b", ""},
	} {
		got, err := Normalize(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrInvalidImageName) {
				t.Errorf("Normalize(%q) = %q, %v; want ErrInvalidImageName", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

const sha = "5e1a8c3e4a9c9b0e3a5c1b7b2f0e4d7c6a3b8e1f2d4c6a8b0e2f4a6c8e0b2d4f"

func TestRegistryConfigValidate(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  RegistryConfig
		ok   bool
	}{
		{"empty", RegistryConfig{}, true},
		{"https mirror", RegistryConfig{Mirrors: map[string][]string{"docker.io": {"mirror.lan:5000", "https://m2.lan/prefix"}}}, true},
		{"http mirror insecure", RegistryConfig{Mirrors: map[string][]string{"docker.io": {"http://10.0.0.5:5000"}}, Insecure: []string{"10.0.0.5"}}, true},
		{"http mirror not insecure", RegistryConfig{Mirrors: map[string][]string{"docker.io": {"http://10.0.0.5:5000"}}}, false},
		{"ftp mirror", RegistryConfig{Mirrors: map[string][]string{"docker.io": {"ftp://m.lan"}}}, false},
		{"mirror with query", RegistryConfig{Mirrors: map[string][]string{"docker.io": {"https://m.lan?x=1"}}}, false},
		{"bad CA", RegistryConfig{CAFiles: map[string]string{"r.lan": ca}}, false},
		{"missing CA", RegistryConfig{CAFiles: map[string]string{"r.lan": ca + ".missing"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Fatalf("Validate = %v", err)
			}
		})
	}
}

func TestRegistryEndpoints(t *testing.T) {
	cfg := RegistryConfig{Mirrors: map[string][]string{
		"docker.io": {"http://10.0.0.5:5000", "mirror.lan/cache"},
	}}
	want := []endpoint{
		{scheme: "http", host: "10.0.0.5:5000", path: "/v2", mirror: true},
		{scheme: "https", host: "mirror.lan", path: "/cache/v2", mirror: true},
		{scheme: "https", host: "registry-1.docker.io", path: "/v2"},
	}
	if got := cfg.endpoints("docker.io"); !reflect.DeepEqual(got, want) {
		t.Errorf("docker.io endpoints\n got %+v\nwant %+v", got, want)
	}
	if got := cfg.endpoints("ghcr.io"); !reflect.DeepEqual(got, []endpoint{{scheme: "https", host: "ghcr.io", path: "/v2"}}) {
		t.Errorf("ghcr.io endpoints %+v", got)
	}
}

func TestCredentialLookup(t *testing.T) {
	h := newHostClients(RegistryConfig{Auth: map[string]Credentials{
		"docker.io":     {Username: "hub", Password: "1"},
		"r.lan":         {Username: "any-port", Password: "2"},
		"r.lan:5000":    {Username: "port", Password: "3"},
		"10.0.0.5:5000": {Username: "ip", Password: "4"},
	}})
	for host, want := range map[string]string{
		"registry-1.docker.io": "hub",
		"r.lan:5000":           "port",
		"r.lan:443":            "any-port",
		"r.lan":                "any-port",
		"10.0.0.5:5000":        "ip",
		"10.0.0.5":             "",
		"other":                "",
	} {
		if u, _, _ := h.credentials(host); u != want {
			t.Errorf("credentials(%s) user %q, want %q", host, u, want)
		}
	}
}

func TestKeyedMutex(t *testing.T) {
	k := keyedMutex{locks: map[string]chan struct{}{}}
	unlock, err := k.lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := k.lock(context.Background(), "b"); err != nil {
		t.Fatal(err)
	} else {
		u()
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := k.lock(done, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("try-lock of a held key: %v", err)
	}
	got := make(chan struct{})
	go func() {
		u, _ := k.lock(context.Background(), "a")
		u()
		close(got)
	}()
	unlock()
	<-got
}
