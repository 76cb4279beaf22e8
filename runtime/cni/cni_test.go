package cni_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/runtime/cni"
	"github.com/outpost-edge/outpost/runtime/netns"
)

func TestTwoPodsTalkOverTheBridge(t *testing.T) {
	e := newEnv(t, "10.250.0.0/24")
	podA, podB := e.pod(t, "a"), e.pod(t, "b")
	a := e.mustSetup(t, "pod-a", podA)
	b := e.mustSetup(t, "pod-b", podB)

	for _, r := range []cni.Result{a, b} {
		if !e.cfg.PodCIDR.Contains(r.IP) || r.Gateway.String() != "10.250.0.1" || r.Interface != "eth0" {
			t.Fatalf("result %+v: want an address in %s, gateway 10.250.0.1, eth0", r, e.cfg.PodCIDR)
		}
	}
	if a.IP == b.IP {
		t.Fatalf("both pods got %s", a.IP)
	}
	if err := roundTrip(podB, echoServer(t, podA, a.IP)); err != nil {
		t.Fatalf("pod b -> pod a: %v", err)
	}
	if err := roundTrip(podA, echoServer(t, podB, b.IP)); err != nil {
		t.Fatalf("pod a -> pod b: %v", err)
	}
	// The gateway is the node: a pod reaches it over the bridge.
	if err := roundTrip(podA, echoServer(t, e.node, a.Gateway)); err != nil {
		t.Fatalf("pod a -> node: %v", err)
	}

	if links := linksIn(t, e.node); !slices.Contains(links, e.cfg.BridgeName) {
		t.Fatalf("node links %v lack bridge %s", links, e.cfg.BridgeName)
	}
	if links := linksIn(t, podA); !slices.Equal(links, []string{"eth0", "lo"}) {
		t.Fatalf("pod links %v, want eth0 and lo", links)
	}
	// isGateway makes the bridge plugin turn forwarding on where it runs:
	// here the node namespace (newEnv checks the host's is unchanged).
	var fwd string
	if err := e.node.Do(func() error { fwd = readFile(t, "/proc/sys/net/ipv4/ip_forward"); return nil }); err != nil {
		t.Fatal(err)
	}
	if fwd != "1" {
		t.Errorf("node ip_forward = %s after Setup, want 1 (set by the bridge plugin)", fwd)
	}

	// Tearing a down takes nothing from b.
	if err := e.teardown("pod-a", podA.Path()); err != nil {
		t.Fatal(err)
	}
	if got := e.allocated(t); !slices.Equal(got, []string{b.IP.String()}) {
		t.Fatalf("allocated after teardown of a: %v, want only b's %s", got, b.IP)
	}
	if links := linksIn(t, e.node); !slices.Contains(links, e.cfg.BridgeName) {
		t.Fatalf("bridge gone after teardown of one pod: %v", links)
	}
	if links := linksIn(t, podA); !slices.Equal(links, []string{"lo"}) {
		t.Fatalf("pod a links after teardown %v, want only lo", links)
	}
	if err := roundTrip(podB, echoServer(t, e.node, b.Gateway)); err != nil {
		t.Fatalf("pod b -> node after teardown of a: %v", err)
	}
}

func TestSetupIsIdempotentAndAdopts(t *testing.T) {
	e := newEnv(t, "10.250.1.0/24")
	id := strings.Repeat("p", cni.MaxPodIDLen)
	pod := e.pod(t, "a")
	first := e.mustSetup(t, id, pod)

	again := e.mustSetup(t, id, pod)
	if again != first {
		t.Fatalf("second Setup = %+v, want %+v", again, first)
	}
	// A restarted agent: a new Network on the same dirs adopts the pod.
	restarted := e.newNetwork(t)
	adopted, err := e.setupWith(restarted, id, pod.Path())
	if err != nil || adopted != first {
		t.Fatalf("Setup after restart = %+v, %v; want %+v", adopted, err, first)
	}
	if got := e.allocated(t); len(got) != 1 {
		t.Fatalf("allocated %v, want one address", got)
	}

	// The cache lost (a crash between host-local's allocation and libcni's
	// cache write): ADD meets the leftovers, DEL clears them, ADD again.
	if err := os.RemoveAll(e.cfg.CacheDir); err != nil {
		t.Fatal(err)
	}
	if _, err := e.setup(id, pod); err != nil {
		t.Fatalf("Setup without cache: %v", err)
	}
	if got := e.allocated(t); len(got) != 1 {
		t.Fatalf("allocated %v after Setup without cache, want one address", got)
	}

	// The pod's namespace recreated under the same path: CHECK fails, the
	// stale attachment is replaced, still one address for the pod.
	if err := pod.Remove(); err != nil {
		t.Fatal(err)
	}
	pod = e.pod(t, "a")
	redone := e.mustSetup(t, id, pod)
	if got := e.allocated(t); !slices.Equal(got, []string{redone.IP.String()}) {
		t.Fatalf("allocated %v after re-setup, want only %s", got, redone.IP)
	}
	if links := linksIn(t, pod); !slices.Equal(links, []string{"eth0", "lo"}) {
		t.Fatalf("recreated pod links %v, want eth0 and lo", links)
	}
}

func TestParallelSetups(t *testing.T) {
	e := newEnv(t, "10.250.5.0/24")
	const pods = 8
	ips := make([]netip.Addr, pods)
	var wg sync.WaitGroup
	for i := range pods {
		pod := e.pod(t, fmt.Sprintf("p%d", i))
		wg.Go(func() {
			res, err := e.setup(fmt.Sprintf("pod-%d", i), pod)
			if err != nil {
				t.Errorf("Setup pod-%d: %v", i, err)
			}
			ips[i] = res.IP
		})
	}
	wg.Wait()
	slices.SortFunc(ips, netip.Addr.Compare)
	if len(slices.Compact(ips)) != pods || !ips[0].IsValid() {
		t.Fatalf("addresses %v, want %d distinct", ips, pods)
	}
}

func TestSetupWithoutNamespace(t *testing.T) {
	e := newEnv(t, "10.250.6.0/24")
	if _, err := e.setup("pod-a", &netns.NS{}); !errors.Is(err, cni.ErrInvalid) {
		t.Fatalf("Setup with empty path = %v, want ErrInvalid", err)
	}
	_, err := e.setupWith(e.net, "pod-a", filepath.Join(e.dir, "missing"))
	if !errors.Is(err, netns.ErrNotFound) {
		t.Fatalf("Setup with missing namespace = %v, want netns.ErrNotFound", err)
	}
	if got := e.allocated(t); len(got) != 0 {
		t.Fatalf("allocated %v", got)
	}
}

func TestTeardownReleasesTheAddress(t *testing.T) {
	// A /30 holds one pod address: the gateway takes .1, .0 and .3 are
	// network and broadcast.
	e := newEnv(t, "10.250.2.0/30")
	podA, podB := e.pod(t, "a"), e.pod(t, "b")
	a := e.mustSetup(t, "pod-a", podA)
	if a.IP.String() != "10.250.2.2" {
		t.Fatalf("pod a got %s, want 10.250.2.2", a.IP)
	}
	if _, err := e.setup("pod-b", podB); err == nil {
		t.Fatal("Setup of a second pod in a full /30 succeeded")
	}
	if links := linksIn(t, podB); !slices.Equal(links, []string{"lo"}) {
		t.Fatalf("failed Setup left links %v in the pod", links)
	}

	if err := e.teardown("pod-a", podA.Path()); err != nil {
		t.Fatal(err)
	}
	if b := e.mustSetup(t, "pod-b", podB); b.IP != a.IP {
		t.Fatalf("pod b got %s, want the released %s", b.IP, a.IP)
	}
}

func TestTeardownWhenThereIsNothingLeft(t *testing.T) {
	e := newEnv(t, "10.250.3.0/24")

	tests := []struct {
		name   string
		remove bool // the namespace is removed before Teardown
		stale  bool // and a pin file without its mount left behind
	}{
		{name: "namespace intact"},
		{name: "namespace removed", remove: true},
		{name: "pin file without its mount", remove: true, stale: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "pod-" + string(rune('a'+i))
			pod := e.pod(t, id)
			e.mustSetup(t, id, pod)
			if tt.remove {
				if err := pod.Remove(); err != nil {
					t.Fatal(err)
				}
			}
			if tt.stale {
				if err := os.WriteFile(pod.Path(), nil, 0o444); err != nil {
					t.Fatal(err)
				}
			}
			for n := range 2 {
				if err := e.teardown(id, pod.Path()); err != nil {
					t.Fatalf("Teardown #%d: %v", n+1, err)
				}
			}
			if got := e.allocated(t); len(got) != 0 {
				t.Fatalf("still allocated: %v", got)
			}
		})
	}
	t.Run("never set up", func(t *testing.T) {
		if err := e.teardown("pod-z", filepath.Join(e.dir, "pod-z")); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(dir string) cni.Config
		wantErr error
		wantMsg string
	}{
		{"no plugin dir", func(dir string) cni.Config {
			return cni.Config{PluginDirs: []string{filepath.Join(dir, "missing")}}
		}, cni.ErrPluginsMissing, "containernetworking-plugins"},
		{"empty plugin dir", func(dir string) cni.Config {
			return cni.Config{PluginDirs: []string{dir}}
		}, cni.ErrPluginsMissing, `no "bridge" in ` + "DIR"},
		{"IPv6 pod CIDR", func(string) cni.Config {
			return cni.Config{PodCIDR: mustPrefix("fd00::/64")}
		}, cni.ErrInvalid, "not IPv4"},
		{"pod CIDR too small", func(string) cni.Config {
			return cni.Config{PodCIDR: mustPrefix("10.0.0.0/31")}
		}, cni.ErrInvalid, "/30"},
		{"bridge name too long", func(string) cni.Config {
			return cni.Config{BridgeName: "outpost-bridge-0"}
		}, cni.ErrInvalid, "bridge name"},
		{"relative data dir", func(string) cni.Config {
			return cni.Config{DataDir: "cni/networks"}
		}, cni.ErrInvalid, "absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := tt.cfg(dir)
			cfg.ConfDir = filepath.Join(dir, "net.d")
			_, err := cni.New(context.Background(), cfg, zerolog.Nop())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New = %v, want %v", err, tt.wantErr)
			}
			if want := strings.ReplaceAll(tt.wantMsg, "DIR", dir); !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not say %q", err, want)
			}
			if _, err := os.Stat(filepath.Join(cfg.ConfDir, cni.ConfFile)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("conflist written despite the error: %v", err)
			}
		})
	}
}

func TestInvalidPodIDs(t *testing.T) {
	n := (*cni.Network)(nil) // validation comes first, no network is needed
	for _, id := range []string{"", "-a", ".a", "a/b", "a b", strings.Repeat("p", cni.MaxPodIDLen+1)} {
		if _, err := n.Setup(context.Background(), id, "/run/x"); !errors.Is(err, cni.ErrInvalid) {
			t.Errorf("Setup(%q) = %v, want ErrInvalid", id, err)
		}
		if err := n.Teardown(context.Background(), id, "/run/x"); !errors.Is(err, cni.ErrInvalid) {
			t.Errorf("Teardown(%q) = %v, want ErrInvalid", id, err)
		}
	}
}

// BenchmarkSetupTeardown measures one pod's attach and detach: the plugin
// execs and the kernel work, the namespace is made once. It reports each
// half as well.
func BenchmarkSetupTeardown(b *testing.B) {
	e := newEnv(b, "10.250.4.0/24")
	pod := e.pod(b, "bench")
	var setup, teardown time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := e.setup("bench", pod); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := e.teardown("bench", pod.Path()); err != nil {
			b.Fatal(err)
		}
		setup += mid.Sub(start)
		teardown += time.Since(mid)
	}
	b.ReportMetric(setup.Seconds()*1000/float64(b.N), "setup-ms/op")
	b.ReportMetric(teardown.Seconds()*1000/float64(b.N), "teardown-ms/op")
}

// BenchmarkSetupAdopt measures Setup of a pod that is already attached:
// the cached result and the plugins' CHECK.
func BenchmarkSetupAdopt(b *testing.B) {
	e := newEnv(b, "10.250.7.0/24")
	pod := e.pod(b, "bench")
	e.mustSetup(b, "bench", pod)
	for b.Loop() {
		if _, err := e.setup("bench", pod); err != nil {
			b.Fatal(err)
		}
	}
}
