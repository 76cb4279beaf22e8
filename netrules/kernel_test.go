package netrules_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/netrules"
	"github.com/outpost-edge/outpost/runtime/netns"
)

var web = map[string]string{"app": "web"}

const vip = "10.96.0.10"

func webPods(n *node, ready ...string) []netrules.Pod {
	var pods []netrules.Pod
	for _, name := range []string{"a", "b", "c"} {
		p := pod(name, web,
			api.ContainerPort{Name: "http", ContainerPort: 8080},
			api.ContainerPort{Name: "dns", ContainerPort: 5353, Protocol: "UDP"})
		pods = append(pods, netrules.Pod{Pod: p, IP: n.ips[name], Ready: slicesContains(ready, name)})
	}
	return pods
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func webService() api.Service {
	return api.Service{
		Metadata: api.ObjectMeta{Name: "web"},
		Spec: api.ServiceSpec{Type: api.ServiceTypeNodePort, Selector: web, ClusterIP: vip, Ports: []api.ServicePort{
			{Name: "http", Port: 80, TargetPort: api.FromString("http"), NodePort: 30080},
			{Name: "dns", Port: 53, Protocol: "UDP", TargetPort: api.FromInt(5353)},
		}},
	}
}

// webNode is a node whose three pods serve TCP 8080 and UDP 5353.
func webNode(t *testing.T) *node {
	n := newNode(t, "a", "b", "c")
	for name, ns := range n.pods {
		serve(t, ns, n.ips[name], 8080, name)
		serve(t, ns, n.ips[name], 5353, name)
	}
	return n
}

func mustSync(t *testing.T, r *netrules.Rules, svcs []api.Service, pods []netrules.Pod) {
	t.Helper()
	if err := r.Sync(context.Background(), svcs, pods); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// spread asks addr many times and returns who answered how often; every
// answer must come from a pod in want.
func spread(t *testing.T, from *netns.NS, network, addr string, want ...string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range 60 {
		who, _, err := ask(from, network, addr)
		if err != nil {
			t.Fatalf("%s %s: %v", network, addr, err)
		}
		if !slicesContains(want, who) {
			t.Fatalf("%s %s answered by %s, want one of %v", network, addr, who, want)
		}
		got[who]++
	}
	for _, w := range want {
		if got[w] == 0 {
			t.Fatalf("%s %s: %s never answered in 60 tries: %v", network, addr, w, got)
		}
	}
	return got
}

func TestServiceSpreadsOverReadyPods(t *testing.T) {
	n := webNode(t)
	r := n.rules(t, netrules.Config{})
	mustSync(t, r, []api.Service{webService()}, webPods(n, "a", "b", "c"))

	t.Run("tcp from the node", func(t *testing.T) { spread(t, n.node, "tcp", vip+":80", "a", "b", "c") })
	t.Run("udp from the node", func(t *testing.T) { spread(t, n.node, "udp", vip+":53", "a", "b", "c") })
	t.Run("tcp from a pod", func(t *testing.T) { spread(t, n.pods["a"], "tcp", vip+":80", "a", "b", "c") })
	t.Run("udp from a pod", func(t *testing.T) { spread(t, n.pods["b"], "udp", vip+":53", "a", "b", "c") })
	t.Run("node port from the LAN", func(t *testing.T) {
		spread(t, n.lan, "tcp", nodeLAN.String()+":30080", "a", "b", "c")
		// No masquerade from outside: the pod sees the LAN host.
		if _, saw, err := ask(n.lan, "tcp", nodeLAN.String()+":30080"); err != nil || saw != lanHost.String() {
			t.Fatalf("pod saw %s (%v), want the LAN host %s", saw, err, lanHost)
		}
	})
	t.Run("node port from a pod", func(t *testing.T) { spread(t, n.pods["c"], "tcp", nodeLAN.String()+":30080", "a", "b", "c") })
	t.Run("node port is not on localhost", func(t *testing.T) {
		if _, _, err := ask(n.node, "tcp", "127.0.0.1:30080"); err == nil {
			t.Fatal("127.0.0.1:30080 answered without LocalhostNodePorts")
		}
	})

	// Readiness: b fails, it gets no new connections after the re-sync.
	mustSync(t, r, []api.Service{webService()}, webPods(n, "a", "c"))
	spread(t, n.node, "tcp", vip+":80", "a", "c")
	spread(t, n.lan, "tcp", nodeLAN.String()+":30080", "a", "c")
	spread(t, n.node, "udp", vip+":53", "a", "c")
	st := r.Status()
	if len(st.Services) != 1 || st.Services[0].Ports[0].Ready != 2 || len(st.Services[0].Ports[0].Endpoints) != 3 {
		t.Fatalf("status %+v: want web with 2 of 3 endpoints ready", st.Services)
	}
}

// TestEndpointsComeAndGo changes the number of endpoints, which replaces
// the service's rule and endpoint map within a partial sync.
func TestEndpointsComeAndGo(t *testing.T) {
	n := webNode(t)
	r := n.rules(t, netrules.Config{})
	pods := webPods(n, "a", "b", "c")
	mustSync(t, r, []api.Service{webService()}, pods[:2])
	spread(t, n.node, "tcp", vip+":80", "a", "b")
	mustSync(t, r, []api.Service{webService()}, pods)
	spread(t, n.node, "tcp", vip+":80", "a", "b", "c")
	spread(t, n.node, "udp", vip+":53", "a", "b", "c")
	mustSync(t, r, []api.Service{webService()}, pods[2:])
	spread(t, n.node, "tcp", vip+":80", "c")
	mustSync(t, r, []api.Service{webService()}, nil)
	if _, _, err := ask(n.node, "tcp", vip+":80"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("no endpoints: %v, want connection refused", err)
	}
	mustSync(t, r, []api.Service{webService()}, pods[1:2])
	spread(t, n.lan, "tcp", nodeLAN.String()+":30080", "b")
	mustSync(t, r, nil, pods) // the service goes, its map with it
	mustSync(t, r, []api.Service{webService()}, pods)
	spread(t, n.node, "tcp", vip+":80", "a", "b", "c")
}

func TestHairpin(t *testing.T) {
	n := webNode(t)
	r := n.rules(t, netrules.Config{})
	mustSync(t, r, []api.Service{webService()}, webPods(n, "a"))
	// a reaches its own service and gets its own answer, from the bridge's
	// address (masqueraded so that the reply comes back through the node).
	for range 5 {
		who, saw, err := ask(n.pods["a"], "tcp", vip+":80")
		if err != nil || who != "a" || saw != bridgeIP.String() {
			t.Fatalf("hairpin: %s saw %s (%v), want a seeing %s", who, saw, err, bridgeIP)
		}
	}
}

func TestNoEndpointsIsRefusedAtOnce(t *testing.T) {
	n := webNode(t)
	r := n.rules(t, netrules.Config{})
	mustSync(t, r, []api.Service{webService()}, webPods(n))
	for _, c := range []struct {
		from *netns.NS
		addr string
	}{{n.node, vip + ":80"}, {n.pods["a"], vip + ":80"}, {n.lan, nodeLAN.String() + ":30080"}} {
		// Refused is the proof of a reject: a dropped SYN would time out.
		if _, _, err := ask(c.from, "tcp", c.addr); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("tcp %s: %v, want connection refused (a reject, not a drop)", c.addr, err)
		}
	}
	// UDP from a pod: the ICMP port unreachable surfaces as a refused
	// read. From the node the rejected packet never leaves: EPERM.
	if _, _, err := ask(n.pods["a"], "udp", vip+":53"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("udp from a pod with no endpoints: %v, want connection refused", err)
	}
	if _, _, err := ask(n.node, "udp", vip+":53"); !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.EPERM) {
		t.Fatalf("udp from the node with no endpoints: %v, want refused or not permitted", err)
	}
}

func TestHostPort(t *testing.T) {
	n := webNode(t)
	r := n.rules(t, netrules.Config{})
	pods := webPods(n, "a", "b", "c")
	pods[1].Pod.Spec.Containers[0].Ports[0].HostPort = 8888 // b's http
	mustSync(t, r, nil, pods)
	for _, from := range []*netns.NS{n.lan, n.pods["a"], n.node} {
		who, _, err := ask(from, "tcp", nodeLAN.String()+":8888")
		if err != nil || who != "b" {
			t.Fatalf("host port: %s, %v; want b", who, err)
		}
	}
	if st := r.Status(); len(st.HostPorts) != 1 || st.HostPorts[0].HostPort != 8888 {
		t.Fatalf("status host ports %+v", st.HostPorts)
	}
}

func TestEgressIsMasqueraded(t *testing.T) {
	n := webNode(t)
	serve(t, n.wan, internet, 9000, "internet")
	r := n.rules(t, netrules.Config{})
	mustSync(t, r, nil, nil)
	for _, network := range []string{"tcp", "udp"} {
		_, saw, err := ask(n.pods["a"], network, internet.String()+":9000")
		if err != nil || saw != nodeWAN.String() {
			t.Fatalf("%s egress: internet saw %s (%v), want the node's %s", network, saw, err, nodeWAN)
		}
	}
	// Pod to pod stays unmasqueraded.
	if _, saw, err := ask(n.pods["a"], "tcp", n.ips["b"].String()+":8080"); err != nil || saw != n.ips["a"].String() {
		t.Fatalf("pod to pod: b saw %s (%v), want a's %s", saw, err, n.ips["a"])
	}
}

func TestRestartKeepsEstablishedConnections(t *testing.T) {
	n := webNode(t)
	r := n.rules(t, netrules.Config{})
	mustSync(t, r, []api.Service{webService()}, webPods(n, "a", "b", "c"))

	var c net.Conn
	if err := n.lan.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", nodeLAN.String()+":30080", 2*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first := roundTrip(t, c)

	// A new agent: a new Rules, whose first sync replaces the table.
	r2 := n.rules(t, netrules.Config{})
	mustSync(t, r2, []api.Service{webService()}, webPods(n, "a", "b", "c"))
	if again := roundTrip(t, c); again != first {
		t.Fatalf("after restart the connection answers from %s, was %s", again, first)
	}
	spread(t, n.node, "tcp", vip+":80", "a", "b", "c")

	// Established connections to an endpoint that stops being ready go on.
	var others []string
	for _, p := range []string{"a", "b", "c"} {
		if p != first {
			others = append(others, p)
		}
	}
	mustSync(t, r2, []api.Service{webService()}, webPods(n, others...))
	if again := roundTrip(t, c); again != first {
		t.Fatalf("after %s became unready the connection answers from %s", first, again)
	}
	spread(t, n.node, "tcp", vip+":80", others...)
}

func roundTrip(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	k, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(buf[:k]))[0]
}

func TestOtherTablesAreLeftAlone(t *testing.T) {
	n := webNode(t)
	nft := requireNft(t)
	n.run(t, n.node, nft+" add table inet other", nft+" add chain inet other c { type filter hook input priority 0 ; }",
		nft+" add rule inet other c counter", nft+" add table ip outpost-not")
	before := nftList(t, n, "inet other")
	r := n.rules(t, netrules.Config{})
	mustSync(t, r, []api.Service{webService()}, webPods(n, "a"))
	mustSync(t, r, []api.Service{webService()}, webPods(n, "b"))
	if err := r.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Cleanup(context.Background()); err != nil {
		t.Fatalf("second Cleanup: %v", err)
	}
	if after := nftList(t, n, "inet other"); after != before {
		t.Fatalf("table inet other changed:\n%s\nwas\n%s", after, before)
	}
	tables := nftOut(t, n.node, nft, "list", "tables")
	if strings.Contains(tables, "table ip outpost\n") || !strings.Contains(tables, "outpost-not") {
		t.Fatalf("tables after Cleanup:\n%s", tables)
	}
	// A sync after Cleanup programs the table again.
	mustSync(t, r, []api.Service{webService()}, webPods(n, "b"))
	spread(t, n.node, "tcp", vip+":80", "b")
}

// TestNetlinkMatchesText loads Dump's text with nft -f into a second
// namespace: nft must list the same table as the one programmed over
// netlink, so the text (the benchmark's baseline) and the netlink
// expressions say the same thing.
func TestNetlinkMatchesText(t *testing.T) {
	n := webNode(t)
	nft := requireNft(t)
	r := n.rules(t, netrules.Config{LocalhostNodePorts: true})
	pods := webPods(n, "a", "c")
	pods[1].Pod.Spec.Containers[0].Ports[1].HostPort = 5353
	pods[1].Pod.Spec.Containers[0].Ports[0].HostPort = 8080
	pods[1].Pod.Spec.Containers[0].Ports[0].HostIP = nodeLAN.String()
	empty := webService()
	empty.Metadata.Name, empty.Spec.ClusterIP, empty.Spec.Selector = "empty", "10.96.0.11", map[string]string{"app": "none"}
	empty.Spec.Ports[0].NodePort = 30081
	mustSync(t, r, []api.Service{webService(), empty}, pods)

	text, err := r.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	other := n.ns(t, "check")
	if err := other.Do(func() error {
		cmd := exec.Command(nft, "-f", "-")
		cmd.Stdin = strings.NewReader(text)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return errors.New(string(out))
		}
		return nil
	}); err != nil {
		t.Fatalf("nft -f of Dump's text: %v\n%s", err, text)
	}
	got, want := nftList(t, n, "ip outpost"), normalize(nftOut(t, other, nft, "list", "table", "ip", "outpost"))
	if got != want {
		t.Fatalf("programmed over netlink:\n%s\nnft -f of the text:\n%s", got, want)
	}
}

func requireNft(t *testing.T) string {
	return testenvRequireNft(t)
}

var (
	counters  = regexp.MustCompile(`counter packets \d+ bytes \d+`)
	spreadKey = regexp.MustCompile(`(\d+) : goto ep-`)
)

// normalize drops counter values and reads numgen map keys in host byte
// order: google/nftables marks every anonymous set's keys big endian, so
// nft prints 1 as 16777216 although the kernel compares the right bytes.
func normalize(s string) string {
	s = counters.ReplaceAllString(s, "counter")
	return spreadKey.ReplaceAllStringFunc(s, func(m string) string {
		k, _ := strconv.ParseUint(strings.Fields(m)[0], 10, 32)
		if k >= 1<<24 {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], uint32(k))
			k = uint64(binary.LittleEndian.Uint32(b[:]))
		}
		return strconv.FormatUint(k, 10) + " : goto ep-"
	})
}

func nftList(t *testing.T, n *node, table string) string {
	return normalize(nftOut(t, n.node, requireNft(t), append([]string{"list", "table"}, strings.Fields(table)...)...))
}

func nftOut(t *testing.T, ns *netns.NS, nft string, args ...string) string {
	t.Helper()
	var out []byte
	if err := ns.Do(func() (err error) { out, err = exec.Command(nft, args...).CombinedOutput(); return err }); err != nil {
		t.Fatalf("nft %v: %v: %s", args, err, out)
	}
	return string(out)
}
