package netrules

import (
	"errors"
	"net/netip"
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
// skeleton: map elements, then chains.
func unitText(rs *ruleset) string {
	var b strings.Builder
	for _, e := range rs.elems {
		b.WriteString(e.set + ": ")
		e.text(&b)
		b.WriteByte('\n')
	}
	for _, u := range rs.units {
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
		want: `service-ips: 10.96.0.10 . udp . 53 : goto svc-dns-udp-53
	chain svc-dns-udp-53 {
		numgen random mod 2 vmap { 0 : goto ep-dns-udp-53-10.88.0.5-5353, 1 : goto ep-dns-udp-53-10.88.0.6-5300 }
	}
	chain ep-dns-udp-53-10.88.0.5-5353 {
		meta l4proto udp counter dnat to 10.88.0.5:5353
	}
	chain ep-dns-udp-53-10.88.0.6-5300 {
		meta l4proto udp counter dnat to 10.88.0.6:5300
	}
`,
	}, {
		name: "no ready endpoints: rejected, node port too",
		services: []api.Service{svc("web", "10.96.0.11", api.ServiceTypeNodePort, appWeb,
			api.ServicePort{Port: 80, TargetPort: api.FromInt(8080), NodePort: 30080})},
		pods: []Pod{testPod("w1", "10.88.0.5", false, appWeb), testPod("w2", "", true, appWeb)},
		want: `no-endpoint-services: 10.96.0.11 . tcp . 80 : goto no-endpoints
no-endpoint-nodeports: tcp . 30080 : goto no-endpoints
	chain svc-web-tcp-80 {
	}
`,
	}, {
		name: "node port with one endpoint, default target port",
		services: []api.Service{svc("web", "10.96.0.11", api.ServiceTypeNodePort, appWeb,
			api.ServicePort{Port: 80, NodePort: 30080})},
		pods: []Pod{testPod("w1", "10.88.0.5", true, map[string]string{"app": "web", "x": "y"})},
		want: `service-ips: 10.96.0.11 . tcp . 80 : goto svc-web-tcp-80
service-nodeports: tcp . 30080 : goto svc-web-tcp-80
	chain svc-web-tcp-80 {
		goto ep-web-tcp-80-10.88.0.5-80
	}
	chain ep-web-tcp-80-10.88.0.5-80 {
		meta l4proto tcp counter dnat to 10.88.0.5:80
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
		}, []string{"ip saddr 127.0.0.0/8"}},
		{true, []string{
			"fib daddr type local meta l4proto . th dport vmap @service-nodeports",
			"ip saddr 127.0.0.0/8 ct status dnat masquerade",
		}, []string{"!= 127.0.0.0/8"}},
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
