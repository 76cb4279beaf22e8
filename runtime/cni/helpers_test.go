package cni_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime/cni"
	"github.com/outpost-edge/outpost/runtime/netns"
)

// requirePlugins needs root and the plugin binaries.
func requirePlugins(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		found := false
		for _, d := range cni.DefaultPluginDirs {
			if _, err := os.Stat(filepath.Join(d, p)); err == nil {
				found = true
			}
		}
		if !found {
			testenv.Skip(t, "CNI plugin "+p+" not found (Debian package containernetworking-plugins; make test installs it)")
		}
	}
}

// env is one throwaway node: a network namespace standing in for the host,
// where the plugins run and the bridge and host veths go, plus temp dirs
// for the conflist, host-local and the cache. The real host's network is
// never touched; the cleanups check that and remove everything.
type env struct {
	dir  string // pins of the node and pod namespaces
	data string // Config's dirs live below
	node *netns.NS
	cfg  cni.Config
	net  *cni.Network
}

func newEnv(t testing.TB, cidr string) *env {
	t.Helper()
	requirePlugins(t)
	// No PATH: the plugins find each other through CNI_PATH, and any
	// attempt to run iptables (or anything else) fails the test.
	t.Setenv("PATH", t.TempDir())

	hostLinks := linkNames(t)
	hostForward := readFile(t, "/proc/sys/net/ipv4/ip_forward")
	e := &env{data: t.TempDir(), dir: t.TempDir()}
	t.Cleanup(func() {
		// After the namespaces are gone (cleanups run last first).
		if err := unix.Unmount(e.dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			t.Errorf("unmount %s: %v", e.dir, err)
		}
		if got := linkNames(t); !slices.Equal(got, hostLinks) {
			t.Errorf("host links changed: %v, was %v", got, hostLinks)
		}
		if got := readFile(t, "/proc/sys/net/ipv4/ip_forward"); got != hostForward {
			t.Errorf("host ip_forward changed to %s", got)
		}
	})
	e.node = newNS(t, e.dir, "node")

	b := make([]byte, 4)
	_, _ = rand.Read(b)
	e.cfg = cni.Config{
		ConfDir:    filepath.Join(e.data, "net.d"),
		DataDir:    filepath.Join(e.data, "networks"),
		CacheDir:   filepath.Join(e.data, "cache"),
		PodCIDR:    netip.MustParsePrefix(cidr),
		BridgeName: "otest" + hex.EncodeToString(b), // 13 characters
	}
	e.net = e.newNetwork(t)
	return e
}

func (e *env) newNetwork(t testing.TB) *cni.Network {
	t.Helper()
	n, err := cni.New(context.Background(), e.cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel))
	if err != nil {
		t.Fatalf("cni.New: %v", err)
	}
	return n
}

// pod makes a pod namespace, removed at cleanup.
func (e *env) pod(t testing.TB, name string) *netns.NS {
	t.Helper()
	return newNS(t, e.dir, name)
}

// setup runs Setup with the node namespace as the host side.
func (e *env) setup(podID string, ns *netns.NS) (res cni.Result, err error) {
	return e.setupWith(e.net, podID, ns.Path())
}

func (e *env) setupWith(n *cni.Network, podID, path string) (res cni.Result, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	doErr := e.node.Do(func() error { res, err = n.Setup(ctx, podID, path); return nil })
	return res, errors.Join(doErr, err)
}

func (e *env) mustSetup(t testing.TB, podID string, ns *netns.NS) cni.Result {
	t.Helper()
	res, err := e.setup(podID, ns)
	if err != nil {
		t.Fatalf("Setup(%s): %v", podID, err)
	}
	return res
}

// teardown runs Teardown in the node namespace.
func (e *env) teardown(podID, path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	doErr := e.node.Do(func() error { err = e.net.Teardown(ctx, podID, path); return nil })
	return errors.Join(doErr, err)
}

// allocated lists the addresses host-local holds.
func (e *env) allocated(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.cfg.DataDir, cni.NetworkName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var ips []string
	for _, ent := range ents {
		if _, err := netip.ParseAddr(ent.Name()); err == nil {
			ips = append(ips, ent.Name())
		}
	}
	return ips
}

// linksIn lists the links of a namespace.
func linksIn(t testing.TB, ns *netns.NS) []string {
	t.Helper()
	var names []string
	if err := ns.Do(func() error {
		var err error
		names, err = interfaceNames()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return names
}

func linkNames(t testing.TB) []string {
	t.Helper()
	names, err := interfaceNames()
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func interfaceNames() ([]string, error) {
	ifs, err := net.Interfaces()
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	slices.Sort(names)
	return names, err
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func newNS(t testing.TB, dir, name string) *netns.NS {
	t.Helper()
	ns, err := netns.New(dir, name)
	if err != nil {
		t.Fatalf("netns.New(%s): %v", name, err)
	}
	t.Cleanup(func() {
		if err := ns.Remove(); err != nil {
			t.Errorf("remove netns %s: %v", name, err)
		}
	})
	return ns
}

// echoServer listens on ip inside ns and echoes one line per connection.
func echoServer(t testing.TB, ns *netns.NS, ip netip.Addr) string {
	t.Helper()
	var l net.Listener
	if err := ns.Do(func() (err error) {
		l, err = net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
		return err
	}); err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.CopyN(c, c, 5)
			}()
		}
	}()
	return l.Addr().String()
}

// roundTrip dials addr from inside ns and expects its echo.
func roundTrip(ns *netns.NS, addr string) error {
	return ns.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write([]byte("ping\n")); err != nil {
			return err
		}
		got := make([]byte, 5)
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		if string(got) != "ping\n" {
			return fmt.Errorf("echo %q", got)
		}
		return nil
	})
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
