package netrules

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/api"
)

func testPod(name string, ip string, ready bool, labels map[string]string, ports ...api.ContainerPort) Pod {
	p := &api.Pod{Metadata: api.ObjectMeta{Name: name, Labels: labels},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Ports: ports}}}}
	var a netip.Addr
	if ip != "" {
		a = netip.MustParseAddr(ip)
	}
	return Pod{Pod: p, IP: a, Ready: ready}
}

func svc(name, ip, typ string, sel map[string]string, ports ...api.ServicePort) api.Service {
	return api.Service{Metadata: api.ObjectMeta{Name: name},
		Spec: api.ServiceSpec{Type: typ, ClusterIP: ip, Selector: sel, Ports: ports}}
}

var (
	appDNS = map[string]string{"app": "dns"}
	appWeb = map[string]string{"app": "web"}
)

// unitText renders what the services and host ports add to the fixed
// skeleton: map elements, then each unit's endpoint map and chains.
func unitText(rs *ruleset) string {
	var b strings.Builder
	for _, e := range rs.elems {
		b.WriteString(e.set + ": ")
		e.text(&b)
		b.WriteByte('\n')
	}
	for _, u := range rs.units {
		if u.eps != nil {
			u.eps.text(&b)
		}
		for i := range u.chains {
			u.chains[i].text(&b)
		}
	}
	for _, c := range rs.conflicts {
		b.WriteString("conflict: " + c + "\n")
	}
	return b.String()
}

func TestGeneratedRules(t *testing.T) {
	cfg, _ := Config{}.withDefaults()
	tests := []struct {
		name     string
		services []api.Service
		pods     []Pod
		want     string
	}{{
		name: "named target port, UDP, one not-ready pod",
		services: []api.Service{svc("dns", "10.96.0.10", api.ServiceTypeClusterIP, appDNS,
			api.ServicePort{Name: "dns", Protocol: "UDP", Port: 53, TargetPort: api.FromString("dns")})},
		pods: []Pod{
			testPod("d1", "10.88.0.5", true, appDNS, api.ContainerPort{Name: "dns", ContainerPort: 5353, Protocol: "UDP"}),
			testPod("d2", "10.88.0.6", true, appDNS, api.ContainerPort{Name: "dns", ContainerPort: 5300, Protocol: "UDP"}),
			testPod("d3", "10.88.0.7", false, appDNS, api.ContainerPort{Name: "dns", ContainerPort: 5353, Protocol: "UDP"}),
			// The name exists only for TCP: not an endpoint of a UDP port.
			testPod("d4", "10.88.0.8", true, appDNS, api.ContainerPort{Name: "dns", ContainerPort: 53}),
		},
		// d3's slot goes to the first ready endpoint.
		want: `service-ips: 10.96.0.10 . udp . 53 : goto svc-dns-udp-53
	map eps-dns-udp-53 {
		typeof numgen random mod 3 : ip daddr . udp dport
		elements = {
			0 : 10.88.0.5 . 5353,
			1 : 10.88.0.6 . 5300,
			2 : 10.88.0.5 . 5353
		}
	}
	chain svc-dns-udp-53 {
		meta l4proto udp counter dnat ip to numgen random mod 3 map @eps-dns-udp-53
	}
`,
	}, {
		name: "no ready endpoints: rejected, node port too",
		services: []api.Service{svc("web", "10.96.0.11", api.ServiceTypeNodePort, appWeb,
			api.ServicePort{Port: 80, TargetPort: api.FromInt(8080), NodePort: 30080})},
		pods: []Pod{testPod("w1", "10.88.0.5", false, appWeb), testPod("w2", "", true, appWeb)},
		want: `no-endpoint-services: 10.96.0.11 . tcp . 80 : goto no-endpoints
no-endpoint-nodeports: tcp . 30080 : goto no-endpoints
	map eps-web-tcp-80 {
		typeof numgen random mod 1 : ip daddr . tcp dport
	}
	chain svc-web-tcp-80 {
		meta l4proto tcp counter dnat ip to numgen random mod 1 map @eps-web-tcp-80
	}
`,
	}, {
		name: "node port with one endpoint, default target port",
		services: []api.Service{svc("web", "10.96.0.11", api.ServiceTypeNodePort, appWeb,
			api.ServicePort{Port: 80, NodePort: 30080})},
		pods: []Pod{testPod("w1", "10.88.0.5", true, map[string]string{"app": "web", "x": "y"})},
		want: `service-ips: 10.96.0.11 . tcp . 80 : goto svc-web-tcp-80
service-nodeports: tcp . 30080 : goto svc-web-tcp-80
	map eps-web-tcp-80 {
		typeof numgen random mod 1 : ip daddr . tcp dport
		elements = {
			0 : 10.88.0.5 . 80
		}
	}
	chain svc-web-tcp-80 {
		meta l4proto tcp counter dnat ip to numgen random mod 1 map @eps-web-tcp-80
	}
`,
	}, {
		name: "host ports: any address, one address, a clash with a node port",
		services: []api.Service{svc("web", "10.96.0.11", api.ServiceTypeNodePort, appWeb,
			api.ServicePort{Port: 80, NodePort: 30080})},
		pods: []Pod{
			testPod("h1", "10.88.0.9", false, nil,
				api.ContainerPort{ContainerPort: 80, HostPort: 8080},
				api.ContainerPort{ContainerPort: 53, HostPort: 53, Protocol: "UDP", HostIP: "192.168.1.5"},
				api.ContainerPort{ContainerPort: 81, HostPort: 30080}),
		},
		want: `no-endpoint-services: 10.96.0.11 . tcp . 80 : goto no-endpoints
no-endpoint-nodeports: tcp . 30080 : goto no-endpoints
service-nodeports: tcp . 8080 : goto hostport-tcp-8080
service-ips: 192.168.1.5 . udp . 53 : goto hostport-udp-192.168.1.5-53
	chain hostport-tcp-30080 {
		meta l4proto tcp counter dnat to 10.88.0.9:81
	}
	chain hostport-tcp-8080 {
		meta l4proto tcp counter dnat to 10.88.0.9:80
	}
	chain hostport-udp-192.168.1.5-53 {
		meta l4proto udp counter dnat to 10.88.0.9:53
	}
	chain svc-web-tcp-80 {
	}
conflict: host port of pod h1: tcp/30080 already taken by service web
`,
	}, {
		name:     "a service without a cluster IP is left out",
		services: []api.Service{svc("web", "", api.ServiceTypeClusterIP, appWeb, api.ServicePort{Port: 80})},
		pods:     []Pod{testPod("w1", "10.88.0.5", true, appWeb)},
		want:     "",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sps, _ := servicePorts(tt.services, tt.pods)
			hps, _ := hostPorts(tt.pods)
			if got := unitText(generate(cfg, sps, hps, nil)); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestStaticChains(t *testing.T) {
	for _, tt := range []struct {
		localhost bool
		want      []string
		wantNot   []string
	}{
		{false, []string{
			"fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports",
			`ip saddr 10.88.0.0/16 ct status dnat oifname "outpost0" masquerade`,
			`ip saddr 10.88.0.0/16 ip daddr != 10.88.0.0/16 oifname != "outpost0" masquerade`,
		}, []string{"ip saddr 127.0.0.0/8", "hook input"}},
		{true, []string{
			"fib daddr type local meta l4proto . th dport vmap @service-nodeports",
			"ip saddr 127.0.0.0/8 ct status dnat masquerade",
			"type filter hook input priority 0; policy accept;",
			"ip saddr != 127.0.0.0/8 ip daddr 127.0.0.0/8 ct status ! dnat counter drop",
		}, []string{"ip daddr != 127.0.0.0/8"}},
	} {
		cfg, _ := Config{LocalhostNodePorts: tt.localhost}.withDefaults()
		text := generate(cfg, nil, nil, nil).text("outpost")
		for _, w := range tt.want {
			if !strings.Contains(text, w) {
				t.Errorf("localhost=%v: missing %q in\n%s", tt.localhost, w, text)
			}
		}
		for _, w := range tt.wantNot {
			if strings.Contains(text, w) {
				t.Errorf("localhost=%v: unexpected %q in\n%s", tt.localhost, w, text)
			}
		}
	}
}

func TestServicePortsEndpoints(t *testing.T) {
	services := []api.Service{
		svc("b", "10.96.0.2", api.ServiceTypeClusterIP, appWeb, api.ServicePort{Name: "http", Port: 80, TargetPort: api.FromString("http")}),
		svc("a", "10.96.0.1", api.ServiceTypeClusterIP, nil, api.ServicePort{Port: 80}),
	}
	pods := []Pod{
		testPod("w2", "10.88.0.6", false, appWeb, api.ContainerPort{Name: "http", ContainerPort: 8080}),
		testPod("w1", "10.88.0.5", true, appWeb, api.ContainerPort{Name: "http", ContainerPort: 8080}),
		testPod("w3", "10.88.0.7", true, appWeb), // no port named http
		testPod("other", "10.88.0.8", true, appDNS, api.ContainerPort{Name: "http", ContainerPort: 8080}),
	}
	sps, skips := servicePorts(services, pods)
	if len(skips) != 0 || len(sps) != 2 {
		t.Fatalf("got %d ports, skips %v", len(sps), skips)
	}
	if sps[0].service != "a" || len(sps[0].endpoints) != 0 {
		t.Errorf("a (empty selector): %+v, want first and without endpoints", sps[0])
	}
	want := []Endpoint{
		{Pod: "w1", IP: netip.MustParseAddr("10.88.0.5"), Port: 8080, Ready: true},
		{Pod: "w2", IP: netip.MustParseAddr("10.88.0.6"), Port: 8080, Ready: false},
	}
	if got := sps[1].endpoints; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("b endpoints %+v, want %+v", got, want)
	}
}

func TestCheckFeatures(t *testing.T) {
	feats := []feature{{name: "nat", configs: "CONFIG_NFT_NAT"}, {name: "numgen", configs: "CONFIG_NFT_NUMGEN"}, {name: "fib", configs: "CONFIG_NFT_FIB_IPV4"}}
	enoent := errors.New("no such file or directory")
	lacking := func(missing ...string) func([]feature) error {
		return func(fs []feature) error {
			for _, f := range fs {
				for _, m := range missing {
					if f.name == m {
						return enoent
					}
				}
			}
			return nil
		}
	}
	found, err := checkFeatures(feats, lacking())
	if err != nil || len(found) != 3 {
		t.Fatalf("all present: %v, %v", found, err)
	}
	found, err = checkFeatures(feats, lacking("numgen", "fib"))
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, enoent) ||
		!strings.Contains(err.Error(), "CONFIG_NFT_NUMGEN") || !strings.Contains(err.Error(), "CONFIG_NFT_FIB_IPV4") ||
		strings.Contains(err.Error(), "CONFIG_NFT_NAT") || len(found) != 1 {
		t.Fatalf("numgen and fib missing: found %v, %v", found, err)
	}
	_, err = checkFeatures(feats, func([]feature) error { return enoent })
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "CONFIG_NF_TABLES") {
		t.Fatalf("no nftables at all: %v", err)
	}
}

func TestDiffElems(t *testing.T) {
	k := setKey{netip.MustParseAddr("10.96.0.1"), 6, 80}
	old := []elem{{mapServiceIPs, k, "svc-a-tcp-80"}, {mapServiceNodePorts, setKey{proto: 6, port: 30080}, "svc-a-tcp-80"}}
	next := []elem{{mapNoEndpointIPs, k, chainNoEndpoints}, old[1]}
	gone, fresh := diffElems(old, next)
	if len(gone) != 1 || gone[0] != old[0] || len(fresh) != 1 || fresh[0] != next[0] {
		t.Fatalf("gone %v fresh %v", gone, fresh)
	}
}

func TestUnchangedUnitsAreReused(t *testing.T) {
	cfg, _ := Config{}.withDefaults()
	services := []api.Service{
		svc("a", "10.96.0.1", api.ServiceTypeClusterIP, appWeb, api.ServicePort{Port: 80}),
		svc("b", "10.96.0.2", api.ServiceTypeClusterIP, appDNS, api.ServicePort{Port: 53, Protocol: "UDP"}),
	}
	pods := []Pod{testPod("w", "10.88.0.5", true, appWeb), testPod("d", "10.88.0.6", true, appDNS)}
	sps, _ := servicePorts(services, pods)
	first := generate(cfg, sps, nil, nil)
	pods[1].Ready = false
	sps, _ = servicePorts(services, pods)
	second := generate(cfg, sps, nil, first)
	if a, b := second.unit("svc-a-tcp-80"), second.unit("svc-b-udp-53"); !a.reused || b.reused {
		t.Fatalf("reused: a %v (want true), b %v (want false)", a.reused, b.reused)
	}
}

func TestServiceMapSlots(t *testing.T) {
	ep := func(last byte, ready bool) Endpoint {
		return Endpoint{IP: netip.AddrFrom4([4]byte{10, 88, 0, last}), Port: 80, Ready: ready}
	}
	slots := func(m *epsMap) string {
		if m == nil {
			return "no map"
		}
		var b strings.Builder
		b.WriteString("mod " + strconv.Itoa(int(m.size)) + ":")
		for _, e := range m.elems {
			b.WriteString(" " + strconv.Itoa(int(e.slot)) + "=" + e.addr.String())
		}
		return b.String()
	}
	for _, tt := range []struct {
		name string
		eps  []Endpoint
		want string
	}{
		{"no endpoints", nil, "no map"},
		{"all ready", []Endpoint{ep(1, true), ep(2, true), ep(3, true)}, "mod 3: 0=10.88.0.1 1=10.88.0.2 2=10.88.0.3"},
		{"not ready slots go round the ready ones",
			[]Endpoint{ep(1, false), ep(2, true), ep(3, false), ep(4, true), ep(5, false)},
			"mod 5: 0=10.88.0.2 1=10.88.0.2 2=10.88.0.4 3=10.88.0.4 4=10.88.0.2"},
		{"none ready: an empty map", []Endpoint{ep(1, false), ep(2, false)}, "mod 2:"},
	} {
		sp := &servicePort{service: "s", proto: 6, port: 80, endpoints: tt.eps}
		if got := slots(serviceMap(sp)); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestDiffEps(t *testing.T) {
	a, b := netip.MustParseAddr("10.88.0.1"), netip.MustParseAddr("10.88.0.2")
	old := []epsElem{{0, a, 80}, {1, b, 80}, {2, a, 80}}
	next := []epsElem{{0, a, 80}, {1, a, 80}, {3, b, 80}}
	gone, fresh := diffEps(old, next)
	if fmt.Sprint(gone) != fmt.Sprint([]epsElem{old[1], old[2]}) || fmt.Sprint(fresh) != fmt.Sprint([]epsElem{next[1], next[2]}) {
		t.Fatalf("gone %v fresh %v", gone, fresh)
	}
}

// TestReadinessChangeTouchesOnlyElements: the kernel re-validates the
// whole table for a new rule, not for elements of a data map, so a
// readiness change (the common one) must come down to elements; a new
// endpoint changes the modulus and so the rule and the map.
func TestReadinessChangeTouchesOnlyElements(t *testing.T) {
	cfg, _ := Config{}.withDefaults()
	services := []api.Service{svc("web", "10.96.0.11", api.ServiceTypeClusterIP, appWeb, api.ServicePort{Port: 80})}
	pods := []Pod{testPod("w1", "10.88.0.5", true, appWeb), testPod("w2", "10.88.0.6", true, appWeb)}
	sync := func(prev *ruleset) (*ruleset, int, int) {
		sps, _ := servicePorts(services, pods)
		rs := generate(cfg, sps, nil, prev)
		e := newEmitter("outpost", 0)
		changed := e.partial(prev, rs)
		return rs, changed, e.nb.msgs
	}
	sps, _ := servicePorts(services, pods)
	rs := generate(cfg, sps, nil, nil)
	pods[1].Ready = false
	rs, changed, msgs := sync(rs)
	if changed != 0 || msgs != 2 { // delete slot 1, add it again
		t.Fatalf("w2 not ready: %d chains or maps changed, %d messages; want 0 and 2", changed, msgs)
	}
	pods[1].Ready = true
	if _, changed, msgs = sync(rs); changed != 0 || msgs != 2 {
		t.Fatalf("w2 ready again: %d chains or maps changed, %d messages; want 0 and 2", changed, msgs)
	}
	pods = append(pods, testPod("w3", "10.88.0.7", true, appWeb))
	// The chain is rewritten and the map replaced: flush, delete the map,
	// add it, its elements and the rule.
	if _, changed, msgs = sync(rs); changed != 3 || msgs != 5 {
		t.Fatalf("w3 added: %d chains or maps changed, %d messages; want 3 and 5", changed, msgs)
	}
}
