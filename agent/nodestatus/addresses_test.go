package nodestatus

import (
	"slices"
	"testing"

	"github.com/outpost-edge/outpost/api"
)

func TestAddresses(t *testing.T) {
	const route6Default = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000002 00000000 00000003     wlan0\n"
	const route6Reject = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
	tests := []struct {
		name string
		sys  func(*fakeSystem)
		want []api.NodeAddress
	}{
		{
			name: "lowest-metric default route's interface",
			want: []api.NodeAddress{{Type: AddressInternalIP, Address: "192.168.1.20"}, {Type: AddressHostname, Address: "pi-kitchen"}},
		},
		{
			name: "default route interface down: next route",
			sys:  func(s *fakeSystem) { s.ifs[1].Up = false },
			want: []api.NodeAddress{{Type: AddressInternalIP, Address: "192.168.1.21"}, {Type: AddressHostname, Address: "pi-kitchen"}},
		},
		{
			name: "no routes: first global address, never the pod bridge",
			sys: func(s *fakeSystem) {
				delete(s.files, pathRoute4)
				s.ifs = []Interface{s.ifs[0], s.ifs[3], {Name: "veth1234", Up: true, Addrs: addrs("10.88.0.1")}, s.ifs[2]}
			},
			want: []api.NodeAddress{{Type: AddressInternalIP, Address: "192.168.1.21"}, {Type: AddressHostname, Address: "pi-kitchen"}},
		},
		{
			name: "offline: only loopback, link-local and the pod bridge",
			sys: func(s *fakeSystem) {
				delete(s.files, pathRoute4)
				s.ifs = []Interface{s.ifs[0], {Name: "eth0", Up: true, Addrs: addrs("fe80::1", "169.254.3.4")}, s.ifs[3]}
			},
			want: []api.NodeAddress{{Type: AddressHostname, Address: "pi-kitchen"}},
		},
		{
			name: "no interfaces and no hostname",
			sys: func(s *fakeSystem) {
				s.ifs, s.host = nil, ""
			},
			want: nil,
		},
		{
			name: "IPv6-only: default route in ipv6_route, reject route on lo ignored",
			sys: func(s *fakeSystem) {
				delete(s.files, pathRoute4)
				s.files[pathRoute6] = route6Reject + route6Default
				s.ifs = []Interface{s.ifs[0], {Name: "wlan0", Up: true, Addrs: addrs("fe80::2", "2001:db8::21")}}
			},
			want: []api.NodeAddress{{Type: AddressInternalIP, Address: "2001:db8::21"}, {Type: AddressHostname, Address: "pi-kitchen"}},
		},
		{
			name: "IPv4 route preferred over IPv6 route",
			sys: func(s *fakeSystem) {
				s.files[pathRoute6] = route6Default
				s.ifs[2].Addrs = addrs("2001:db8::21", "192.168.1.21")
			},
			want: []api.NodeAddress{{Type: AddressInternalIP, Address: "192.168.1.20"}, {Type: AddressHostname, Address: "pi-kitchen"}},
		},
		{
			name: "garbage route table",
			sys: func(s *fakeSystem) {
				s.files[pathRoute4] = "Iface\tDestination\nwlan0 00000000 zz zz\n"
				s.ifs = []Interface{s.ifs[0], s.ifs[2]}
			},
			want: []api.NodeAddress{{Type: AddressInternalIP, Address: "192.168.1.21"}, {Type: AddressHostname, Address: "pi-kitchen"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := newFakePi()
			if tt.sys != nil {
				tt.sys(sys)
			}
			got := addresses(sys, DefaultSkipInterfaces)
			if len(got) != len(tt.want) {
				t.Fatalf("addresses %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("addresses %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestAddressesSkipPodBridge: a pod bridge with a custom name (not matched
// by DefaultSkipInterfaces) is never the InternalIP on a node without a
// default route once Config.PodBridge names it; the default patterns stay.
func TestAddressesSkipPodBridge(t *testing.T) {
	bridge := Interface{Name: "br-pods", Up: true, Addrs: addrs("10.88.0.1")}
	tests := []struct {
		name string
		ifs  func(s *fakeSystem) []Interface
		want []api.NodeAddress
	}{
		{
			name: "custom bridge first, a LAN interface after it",
			ifs:  func(s *fakeSystem) []Interface { return []Interface{s.ifs[0], bridge, s.ifs[2]} },
			want: []api.NodeAddress{{Type: AddressInternalIP, Address: "192.168.1.21"}, {Type: AddressHostname, Address: "pi-kitchen"}},
		},
		{
			name: "offline: only loopback and the custom bridge",
			ifs:  func(s *fakeSystem) []Interface { return []Interface{s.ifs[0], bridge} },
			want: []api.NodeAddress{{Type: AddressHostname, Address: "pi-kitchen"}},
		},
		{
			name: "the default patterns still apply",
			ifs: func(s *fakeSystem) []Interface {
				return []Interface{s.ifs[0], s.ifs[3], {Name: "veth1234", Up: true, Addrs: addrs("10.88.0.7")}, bridge}
			},
			want: []api.NodeAddress{{Type: AddressHostname, Address: "pi-kitchen"}},
		},
	}
	t.Run("a bridge name is not a pattern", func(t *testing.T) {
		sys := newFakePi()
		delete(sys.files, pathRoute4)
		sys.ifs = []Interface{sys.ifs[0], {Name: "br[1]", Up: true, Addrs: addrs("10.88.0.1")}}
		st := collect(t, newTestCollector(sys, &fakeClock{t0}, func(c *Config) { c.PodBridge = "br[1]" }))
		if want := []api.NodeAddress{{Type: AddressHostname, Address: "pi-kitchen"}}; !slices.Equal(st.Addresses, want) {
			t.Fatalf("addresses %v, want %v", st.Addresses, want)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := newFakePi()
			delete(sys.files, pathRoute4)
			sys.ifs = tt.ifs(sys)
			st := collect(t, newTestCollector(sys, &fakeClock{t0}, func(c *Config) { c.PodBridge = bridge.Name }))
			if !slices.Equal(st.Addresses, tt.want) {
				t.Fatalf("addresses %v, want %v", st.Addresses, tt.want)
			}
		})
	}
}
