package netrules

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The node's own connections to a service VIP (processes on the node,
// hostNetwork pods) look up a route before the nat output hook DNATs them:
// with no default route (a remote site whose uplink is down) that lookup
// fails with ENETUNREACH and the DNAT never happens. A route for the
// service CIDR via lo makes the lookup succeed; it picks a source address
// of the node (lo's 127.0.0.1 has host scope, too narrow for a link-scope
// route), the output hook DNATs to the endpoint and the kernel routes the
// packet again towards it. Being more specific than a default route, it
// also takes the node's service traffic off the uplink when there is one.
// A VIP port no service has is then dropped on lo instead of going to the
// default gateway, which had no use for it either.

// routeProto marks the routes this package adds (rtm_protocol; 79 is not
// among iproute2's registered protocols), so that it finds and removes
// its own routes and no one else's.
const routeProto = 79

// loIndex is the loopback device's index in every network namespace.
const loIndex = 1

// syncServiceRoute makes the main table hold exactly one route of ours:
// want via lo (none when want is invalid). Routes of ours for another
// prefix (a changed network.serviceCIDR) are deleted. Idempotent.
func (r *Rules) syncServiceRoute(want netip.Prefix) error {
	c, err := r.routeConn()
	if err != nil {
		return err
	}
	defer c.Close()
	have, err := ourRoutes(c)
	if err != nil {
		return err
	}
	var errs []error
	found := false
	for _, p := range have {
		if p == want {
			found = true
			continue
		}
		if err := routeMsg(c, unix.RTM_DELROUTE, 0, p); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete route %s: %w", p, err))
		}
	}
	if want.IsValid() && !found {
		if err := routeMsg(c, unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, want); err != nil {
			errs = append(errs, fmt.Errorf("add route %s dev lo: %w", want, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("netrules: service CIDR route: %w", err)
	}
	return nil
}

func (r *Rules) routeConn() (*netlink.Conn, error) {
	cfg := &netlink.Config{}
	if r.ns != nil {
		cfg.NetNS = int(r.ns.Fd())
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, cfg)
	if err != nil {
		return nil, fmt.Errorf("netrules: rtnetlink: %w", err)
	}
	return c, nil
}

// rtmsg encodes struct rtmsg for a unicast route of ours in the main table.
func rtmsg(p netip.Prefix, scope uint8) []byte {
	b := make([]byte, unix.SizeofRtMsg)
	b[0] = unix.AF_INET
	b[1] = uint8(p.Bits())
	b[4] = unix.RT_TABLE_MAIN
	b[5] = routeProto
	b[6] = scope
	b[7] = unix.RTN_UNICAST
	return b
}

func routeMsg(c *netlink.Conn, typ netlink.HeaderType, flags netlink.HeaderFlags, p netip.Prefix) error {
	ae := netlink.NewAttributeEncoder()
	a := p.Addr().As4()
	ae.Bytes(unix.RTA_DST, a[:])
	ae.Uint32(unix.RTA_OIF, loIndex)
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = c.Execute(netlink.Message{
		Header: netlink.Header{Type: typ, Flags: netlink.Request | netlink.Acknowledge | flags},
		Data:   append(rtmsg(p, unix.RT_SCOPE_LINK), attrs...),
	})
	return err
}

// ourRoutes lists the IPv4 routes of the main table that carry routeProto.
func ourRoutes(c *netlink.Conn) ([]netip.Prefix, error) {
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETROUTE, Flags: netlink.Request | netlink.Dump},
		Data:   rtmsg(netip.PrefixFrom(netip.IPv4Unspecified(), 0), 0),
	})
	if err != nil {
		return nil, fmt.Errorf("netrules: list routes: %w", err)
	}
	var out []netip.Prefix
	for _, m := range msgs {
		d := m.Data
		if len(d) < unix.SizeofRtMsg || d[0] != unix.AF_INET || d[5] != routeProto {
			continue
		}
		table := uint32(d[4])
		dst := netip.IPv4Unspecified()
		ad, err := netlink.NewAttributeDecoder(d[unix.SizeofRtMsg:])
		if err != nil {
			continue
		}
		for ad.Next() {
			switch ad.Type() {
			case unix.RTA_DST:
				if a, ok := netip.AddrFromSlice(ad.Bytes()); ok {
					dst = a
				}
			case unix.RTA_TABLE:
				table = ad.Uint32()
			}
		}
		if table == unix.RT_TABLE_MAIN {
			out = append(out, netip.PrefixFrom(dst, int(d[1])))
		}
	}
	return out, nil
}
