package nodestatus

import (
	"bufio"
	"bytes"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/outpost-edge/outpost/api"
)

// Address types, as Kubernetes names them.
const (
	AddressHostname   = "Hostname"
	AddressInternalIP = "InternalIP"
)

// DefaultSkipInterfaces are interfaces whose addresses are never the node's:
// the pod bridge and the pods' veths would otherwise be picked on a device
// that boots offline.
var DefaultSkipInterfaces = []string{"outpost*", "veth*", "cni*", "docker*", "flannel*"}

// route is one default route: the interface it leaves by and its metric.
type route struct {
	iface  string
	metric int64
	v6     bool
}

// defaultRoutes reads the IPv4 then IPv6 default routes, lowest metric first
// within each family. Unreadable tables yield no routes, never an error: a
// device without network still reports a status.
func defaultRoutes(sys System) []route {
	var v4, v6 []route
	if b, err := sys.ReadFile(pathRoute4); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			// Iface Destination Gateway Flags RefCnt Use Metric Mask ...
			f := strings.Fields(sc.Text())
			if len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" {
				continue
			}
			flags, err1 := strconv.ParseUint(f[3], 16, 32)
			metric, err2 := strconv.ParseInt(f[6], 10, 64)
			if err1 != nil || err2 != nil || flags&rtfUp == 0 {
				continue
			}
			v4 = append(v4, route{iface: f[0], metric: metric})
		}
	}
	if b, err := sys.ReadFile(pathRoute6); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			// dst dstlen src srclen nexthop metric refcnt use flags iface
			f := strings.Fields(sc.Text())
			if len(f) < 10 || f[1] != "00" || strings.Trim(f[0], "0") != "" || f[9] == "lo" {
				continue
			}
			flags, err1 := strconv.ParseUint(f[8], 16, 32)
			metric, err2 := strconv.ParseUint(f[5], 16, 32)
			if err1 != nil || err2 != nil || flags&rtfUp == 0 || flags&rtfReject != 0 {
				continue
			}
			v6 = append(v6, route{iface: f[9], metric: int64(metric), v6: true})
		}
	}
	byMetric := func(rs []route) {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].metric < rs[j].metric })
	}
	byMetric(v4)
	byMetric(v6)
	return append(v4, v6...)
}

const (
	rtfUp     = 0x1
	rtfReject = 0x200
)

// internalIP picks the node's address: the first global unicast address of
// the family of the best default route on that route's interface; without a
// usable default route, the first global unicast address of any up
// interface, IPv4 before IPv6. ok is false when the device has no address.
func internalIP(routes []route, ifs []Interface, skip []string) (netip.Addr, bool) {
	usable := make(map[string]Interface, len(ifs))
	for _, i := range ifs {
		if i.Up && !i.Loopback && !skipped(i.Name, skip) {
			usable[i.Name] = i
		}
	}
	for _, r := range routes {
		if ifc, ok := usable[r.iface]; ok {
			if a, ok := firstGlobal(ifc.Addrs, r.v6); ok {
				return a, true
			}
		}
	}
	for _, v6 := range []bool{false, true} {
		for _, i := range ifs {
			if _, ok := usable[i.Name]; !ok {
				continue
			}
			if a, ok := firstGlobal(i.Addrs, v6); ok {
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}

func firstGlobal(addrs []netip.Addr, v6 bool) (netip.Addr, bool) {
	for _, a := range addrs {
		if a.IsGlobalUnicast() && a.Is6() == v6 {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func skipped(name string, patterns []string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// addresses returns InternalIP (when the device has one) then Hostname.
func addresses(sys System, skip []string) []api.NodeAddress {
	var out []api.NodeAddress
	ifs, _ := sys.Interfaces()
	if ip, ok := internalIP(defaultRoutes(sys), ifs, skip); ok {
		out = append(out, api.NodeAddress{Type: AddressInternalIP, Address: ip.String()})
	}
	if h, err := sys.Hostname(); err == nil && h != "" {
		out = append(out, api.NodeAddress{Type: AddressHostname, Address: h})
	}
	return out
}
