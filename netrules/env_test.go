package netrules_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/netrules"
	"github.com/outpost-edge/outpost/runtime/netns"
)

// Addresses of the throwaway network: a node with a bridge and three pods,
// a LAN host and an "internet" host beyond the node's default route.
var (
	podCIDR  = netip.MustParsePrefix("10.77.0.0/24")
	bridgeIP = netip.MustParseAddr("10.77.0.1")
	nodeLAN  = netip.MustParseAddr("192.168.77.1")
	lanHost  = netip.MustParseAddr("192.168.77.2")
	nodeWAN  = netip.MustParseAddr("203.0.113.1")
	internet = netip.MustParseAddr("203.0.113.2")
)

const bridge = "obr0"

// node is one throwaway node: namespaces pinned in a temp dir, removed at
// cleanup; the host's own network and ruleset are never touched.
type node struct {
	dir  string
	node *netns.NS
	pods map[string]*netns.NS
	ips  map[string]netip.Addr
	lan  *netns.NS
	wan  *netns.NS
}

func requireKernel(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "ip", "iproute2")
}

func newNode(t testing.TB, pods ...string) *node {
	t.Helper()
	requireKernel(t)
	n := &node{dir: t.TempDir(), pods: map[string]*netns.NS{}, ips: map[string]netip.Addr{}}
	t.Cleanup(func() {
		if err := unix.Unmount(n.dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			t.Errorf("unmount %s: %v", n.dir, err)
		}
	})
	n.node = n.ns(t, "node")
	n.run(t, n.node,
		"ip link set lo up",
		"ip link add "+bridge+" type bridge",
		"ip addr add "+bridgeIP.String()+"/24 dev "+bridge,
		"ip link set "+bridge+" up",
	)
	if err := n.node.Do(netrules.EnableForwarding); err != nil {
		t.Fatal(err)
	}
	for i, name := range pods {
		ns := n.ns(t, "pod-"+name)
		ip := netip.AddrFrom4([4]byte{10, 77, 0, byte(10 + i)})
		n.pods[name], n.ips[name] = ns, ip
		veth := fmt.Sprintf("veth%d", i)
		n.run(t, n.node,
			"ip link add "+veth+" type veth peer name eth0 netns "+ns.Path(),
			"ip link set "+veth+" master "+bridge+" up",
			// As runtime/cni's conflist (hairpinMode): with br_netfilter
			// a pod's connection to its own service goes back out its port.
			"ip link set "+veth+" type bridge_slave hairpin on")
		n.run(t, ns,
			"ip link set lo up",
			"ip addr add "+ip.String()+"/24 dev eth0",
			"ip link set eth0 up",
			"ip route add default via "+bridgeIP.String())
	}
	n.lan = n.peer(t, "lan", "lan0", nodeLAN, lanHost, false)
	n.wan = n.peer(t, "wan", "wan0", nodeWAN, internet, true)
	return n
}

// peer links a host to the node by veth on a /24 of its own.
func (n *node) peer(t testing.TB, name, link string, nodeIP, ip netip.Addr, defaultRoute bool) *netns.NS {
	ns := n.ns(t, name)
	n.run(t, n.node,
		"ip link add "+link+" type veth peer name eth0 netns "+ns.Path(),
		"ip addr add "+nodeIP.String()+"/24 dev "+link,
		"ip link set "+link+" up")
	n.run(t, ns,
		"ip link set lo up",
		"ip addr add "+ip.String()+"/24 dev eth0",
		"ip link set eth0 up")
	if defaultRoute {
		n.run(t, n.node, "ip route add default via "+ip.String())
	}
	return ns
}

func (n *node) ns(t testing.TB, name string) *netns.NS {
	t.Helper()
	ns, err := netns.New(n.dir, name)
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

// run runs commands inside ns.
func (n *node) run(t testing.TB, ns *netns.NS, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		n.runOut(t, ns, io.Discard, c)
	}
}

// runOut runs one command inside ns and writes its output to w.
func (n *node) runOut(t testing.TB, ns *netns.NS, w io.Writer, c string) {
	t.Helper()
	var out []byte
	err := ns.Do(func() (err error) {
		f := strings.Fields(c)
		out, err = exec.Command(f[0], f[1:]...).CombinedOutput()
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v: %s", c, err, out)
	}
	_, _ = w.Write(out)
}

func testenvRequireNft(t testing.TB) string {
	return testenv.RequireBinary(t, "nft", "nftables")
}

func (n *node) rules(t testing.TB, cfg netrules.Config) *netrules.Rules {
	t.Helper()
	cfg.NetNSPath = n.node.Path()
	cfg.PodCIDR, cfg.BridgeName = podCIDR, bridge
	r, err := netrules.New(context.Background(), cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel))
	if err != nil {
		t.Fatalf("netrules.New: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// serve runs TCP and UDP echo servers on port in ns that answer with who
// followed by the client address they saw.
func serve(t testing.TB, ns *netns.NS, ip netip.Addr, port int, who string) {
	t.Helper()
	var l net.Listener
	var pc net.PacketConn
	err := ns.Do(func() (err error) {
		addr := netip.AddrPortFrom(ip, uint16(port)).String()
		if l, err = net.Listen("tcp", addr); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", who, err)
	}
	t.Cleanup(func() { l.Close(); pc.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					if _, err := fmt.Fprintf(c, "%s %s\n", who, c.RemoteAddr().(*net.TCPAddr).IP); err != nil {
						return
					}
				}
			}()
		}
	}()
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(fmt.Appendf(nil, "%s %s\n", who, from.(*net.UDPAddr).IP), from)
		}
	}()
}

// udpPorts gives every UDP ask a source port of its own: a reused port
// would be the same conntrack "connection" as an earlier ask, still DNATed
// to the endpoint it had then (docs/services.md: UDP conntrack entries
// live until they time out), which is not what a test of new connections
// asks about.
var udpPorts atomic.Int32

func init() { udpPorts.Store(20000) }

// ask dials addr over network from inside ns and returns the answer:
// server name and the client address it saw.
func ask(ns *netns.NS, network, addr string) (who, saw string, err error) {
	err = ns.Do(func() error {
		d := net.Dialer{Timeout: 2 * time.Second}
		if strings.HasPrefix(network, "udp") {
			d.LocalAddr = &net.UDPAddr{Port: int(udpPorts.Add(1))}
		}
		c, err := d.Dial(network, addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(c, "hi\n"); err != nil {
			return err
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return fmt.Errorf("answer %q", line)
		}
		who, saw = f[0], f[1]
		return nil
	})
	return who, saw, err
}

func pod(name string, labels map[string]string, ports ...api.ContainerPort) *api.Pod {
	return &api.Pod{
		Metadata: api.ObjectMeta{Name: name, Labels: labels},
		Spec:     api.PodSpec{Containers: []api.Container{{Name: "c", Image: "x", Ports: ports}}},
	}
}
