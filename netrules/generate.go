package netrules

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// Names in the table. Chain names are nft identifiers (no quoting: nft
// 1.0.6 does not accept quoted names after goto), so none is a keyword.
const (
	mapServiceIPs         = "service-ips"
	mapServiceNodePorts   = "service-nodeports"
	mapNoEndpointIPs      = "no-endpoint-services"
	mapNoEndpointNodePort = "no-endpoint-nodeports"

	chainFilterPrerouting = "filter-prerouting"
	chainFilterOutput     = "filter-output"
	chainFilterInput      = "filter-input"
	chainEndpointsCheck   = "endpoints-check"
	chainNoEndpoints      = "no-endpoints"
	chainNATPrerouting    = "nat-prerouting"
	chainNATOutput        = "nat-output"
	chainServices         = "services"
	chainNATPostrouting   = "nat-postrouting"
)

// Base chain priorities: the no-endpoint check runs before DNAT rewrites
// the destination it looks at.
const (
	prioDstNAT        = -100
	prioEndpointCheck = prioDstNAT - 10
	prioSrcNAT        = 100
)

var loopback = netip.MustParsePrefix("127.0.0.0/8")

// mapDef is one of the table's named verdict maps.
type mapDef struct {
	name   string
	byAddr bool // key is ip daddr . l4proto . dport; else l4proto . dport
}

var tableMaps = []mapDef{
	{mapServiceIPs, true},
	{mapServiceNodePorts, false},
	{mapNoEndpointIPs, true},
	{mapNoEndpointNodePort, false},
}

func (m mapDef) keyType() nftables.SetDatatype {
	if m.byAddr {
		return nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	}
	return nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
}

func byAddr(set string) bool { return set == mapServiceIPs || set == mapNoEndpointIPs }

// baseChain hooks a chain into the kernel's packet path.
type baseChain struct {
	typ  nftables.ChainType
	hook string // prerouting, input, output or postrouting
	prio int32
}

type chain struct {
	name  string
	base  *baseChain
	rules []rule
}

type setKey struct {
	addr  netip.Addr // invalid in the node port maps
	proto uint8
	port  uint16
}

// elem is one element of a named map: key -> goto chain.
type elem struct {
	set   string
	key   setKey
	chain string
}

// unit is what one service port or one host port contributes: an entry
// chain (its key) and the chains behind it. Its model decides whether a
// partial sync must touch it.
type unit struct {
	name   string
	sp     *servicePort
	hp     *hostPort
	chains []chain
	eps    *epsMap // the service port's endpoint map; nil without endpoints
	reused bool    // chains and map taken unchanged from the previous ruleset
}

func (u *unit) sameModel(o *unit) bool {
	switch {
	case u.sp != nil && o.sp != nil:
		a, b := u.sp, o.sp
		return a.service == b.service && a.proto == b.proto && a.port == b.port && a.vip == b.vip &&
			slices.EqualFunc(a.endpoints, b.endpoints, func(x, y Endpoint) bool {
				return x.IP == y.IP && x.Port == y.Port && x.Ready == y.Ready
			})
	case u.hp != nil && o.hp != nil:
		return *u.hp == *o.hp
	}
	return false
}

// ruleset is the whole table as generated: the fixed chains, one unit per
// service port and host port, and the map elements that lead to them.
type ruleset struct {
	static    []chain
	units     []*unit // by name
	byName    map[string]*unit
	elems     []elem
	services  []servicePort
	hostPorts []hostPort
	conflicts []string // what could not be programmed, and why
}

// staticChains are the hooks and dispatch chains; they depend only on the
// configuration.
func staticChains(cfg Config) []chain {
	local := rule{matchLocal{}}
	if !cfg.LocalhostNodePorts {
		local = append(local, matchIP{offset: daddr, prefix: loopback, neg: true})
	}
	pods := cfg.PodCIDR
	post := []rule{
		// Pod to service (or node port, or host port) back onto the
		// bridge, hairpin included: the reply must come through the node.
		{matchIP{offset: saddr, prefix: pods}, matchCt{dnat: true}, matchOif{name: cfg.BridgeName}, masquerade{}},
		// Egress: pods leaving the pod network through another interface.
		{matchIP{offset: saddr, prefix: pods}, matchIP{offset: daddr, prefix: pods, neg: true},
			matchOif{name: cfg.BridgeName, neg: true}, masquerade{}},
	}
	if cfg.LocalhostNodePorts {
		// 127.0.0.1 as a source cannot leave the host (and needs
		// route_localnet to be routed at all).
		post = append(post, rule{matchIP{offset: saddr, prefix: loopback}, matchCt{dnat: true}, masquerade{}})
	}
	newConn := rule{matchCt{}, verdict{chain: chainEndpointsCheck}}
	toServices := rule{verdict{chain: chainServices}}
	var input []chain
	if cfg.LocalhostNodePorts {
		// route_localnet lets the node accept packets for 127.0.0.0/8 from
		// its networks, which would reach whatever listens on localhost
		// only (CVE-2020-8558): drop them, but for the node ports and host
		// ports this option is for (DNATed away, they are forwarded).
		input = append(input, chain{name: chainFilterInput, base: &baseChain{nftables.ChainTypeFilter, "input", 0},
			rules: []rule{{matchIP{offset: saddr, prefix: loopback, neg: true}, matchIP{offset: daddr, prefix: loopback},
				matchCt{dnat: true, neg: true}, counter{}, drop{}}}})
	}
	return append(input, []chain{
		{name: chainFilterPrerouting, base: &baseChain{nftables.ChainTypeFilter, "prerouting", prioEndpointCheck}, rules: []rule{newConn}},
		{name: chainFilterOutput, base: &baseChain{nftables.ChainTypeFilter, "output", prioEndpointCheck}, rules: []rule{newConn}},
		{name: chainEndpointsCheck, rules: []rule{
			{vmapLookup{byAddr: true, set: mapNoEndpointIPs}},
			append(slices.Clone(local), vmapLookup{set: mapNoEndpointNodePort}),
		}},
		{name: chainNoEndpoints, rules: []rule{
			{matchL4{unix.IPPROTO_TCP}, counter{}, reject{tcp: true}},
			{counter{}, reject{}},
		}},
		{name: chainNATPrerouting, base: &baseChain{nftables.ChainTypeNAT, "prerouting", prioDstNAT}, rules: []rule{toServices}},
		{name: chainNATOutput, base: &baseChain{nftables.ChainTypeNAT, "output", prioDstNAT}, rules: []rule{toServices}},
		{name: chainServices, rules: []rule{
			{vmapLookup{byAddr: true, set: mapServiceIPs}},
			append(slices.Clone(local), vmapLookup{set: mapServiceNodePorts}),
		}},
		{name: chainNATPostrouting, base: &baseChain{nftables.ChainTypeNAT, "postrouting", prioSrcNAT}, rules: post},
	}...)
}

func serviceChainName(sp *servicePort) string {
	return "svc-" + sp.service + "-" + protoName(sp.proto) + "-" + strconv.Itoa(int(sp.port))
}

func epsMapName(sp *servicePort) string {
	return "eps-" + sp.service + "-" + protoName(sp.proto) + "-" + strconv.Itoa(int(sp.port))
}

func hostPortChainName(hp *hostPort) string {
	n := "hostport-" + protoName(hp.proto) + "-"
	if hp.hostIP.IsValid() {
		n += hp.hostIP.String() + "-"
	}
	return n + strconv.Itoa(int(hp.port))
}

// serviceChains: the service chain DNATs new connections through the
// service port's endpoint map, one slot per endpoint, ready or not (see
// serviceMap). Without endpoints the chain stays empty; without ready ones
// the maps send the service to no-endpoints instead.
func serviceChains(sp *servicePort) []chain {
	svc := chain{name: serviceChainName(sp)}
	if n := len(sp.endpoints); n > 0 {
		svc.rules = []rule{{matchL4{sp.proto}, counter{}, dnatMap{mod: uint32(n), set: epsMapName(sp)}}}
	}
	return []chain{svc}
}

// serviceMap fills the endpoint map: slot i is endpoint i when it is
// ready; the slots of endpoints that are not are given to the ready ones
// in turn. The modulus, in the rule, is thus the number of endpoints and
// not of ready ones: a readiness change rewrites elements of a data map,
// which the kernel takes without re-validating the table, where a new rule
// (or a verdict element) makes it check every chain again. The price is a
// spread even only within rounding: with 9 of 10 ready, one endpoint gets
// two slots.
func serviceMap(sp *servicePort) *epsMap {
	if len(sp.endpoints) == 0 {
		return nil
	}
	m := &epsMap{name: epsMapName(sp), proto: sp.proto, size: uint32(len(sp.endpoints))}
	var ready []Endpoint
	for _, ep := range sp.endpoints {
		if ep.Ready {
			ready = append(ready, ep)
		}
	}
	if len(ready) == 0 {
		return m
	}
	j := 0
	for i, ep := range sp.endpoints {
		if !ep.Ready {
			ep = ready[j%len(ready)]
			j++
		}
		m.elems = append(m.elems, epsElem{slot: uint32(i), addr: ep.IP, port: ep.Port})
	}
	return m
}

func hostPortChains(hp *hostPort) []chain {
	return []chain{{name: hostPortChainName(hp), rules: []rule{{matchL4{hp.proto}, counter{}, dnat{hp.ip, hp.target}}}}}
}

func readyCount(sp *servicePort) int {
	n := 0
	for _, ep := range sp.endpoints {
		if ep.Ready {
			n++
		}
	}
	return n
}

// generate builds the ruleset. Units whose model equals prev's reuse its
// chains, so a partial sync costs what changed, not what exists. When two
// things claim one map key (a node port and a host port, two host ports),
// the first in order wins: services by name, then host ports by pod name.
func generate(cfg Config, sps []servicePort, hps []hostPort, prev *ruleset) *ruleset {
	rs := &ruleset{services: sps, hostPorts: hps, byName: make(map[string]*unit, len(sps)+len(hps))}
	if prev != nil {
		rs.static = prev.static
	} else {
		rs.static = staticChains(cfg)
	}
	type claim struct {
		byAddr bool
		key    setKey
	}
	owner := map[claim]string{}
	take := func(set string, key setKey, target, who string) {
		c := claim{byAddr(set), key}
		if o, ok := owner[c]; ok {
			rs.conflicts = append(rs.conflicts, fmt.Sprintf("%s: %s/%d already taken by %s", who, protoName(key.proto), key.port, o))
			return
		}
		owner[c] = who
		rs.elems = append(rs.elems, elem{set: set, key: key, chain: target})
	}
	add := func(u *unit, build func() []chain) bool {
		if _, dup := rs.byName[u.name]; dup {
			rs.conflicts = append(rs.conflicts, u.name+": defined twice")
			return false
		}
		if o := prev.unit(u.name); o != nil && u.sameModel(o) {
			u.chains, u.eps, u.reused = o.chains, o.eps, true
		} else {
			u.chains = build()
			if u.sp != nil {
				u.eps = serviceMap(u.sp)
			}
		}
		rs.units = append(rs.units, u)
		rs.byName[u.name] = u
		return true
	}
	for i := range sps {
		sp := &sps[i]
		u := &unit{name: serviceChainName(sp), sp: sp}
		if !add(u, func() []chain { return serviceChains(sp) }) {
			continue
		}
		ipSet, portSet, target := mapServiceIPs, mapServiceNodePorts, u.name
		if readyCount(sp) == 0 {
			ipSet, portSet, target = mapNoEndpointIPs, mapNoEndpointNodePort, chainNoEndpoints
		}
		who := "service " + sp.service
		take(ipSet, setKey{sp.vip, sp.proto, sp.port}, target, who)
		if sp.nodePort != 0 {
			take(portSet, setKey{proto: sp.proto, port: sp.nodePort}, target, who)
		}
	}
	for i := range hps {
		hp := &hps[i]
		u := &unit{name: hostPortChainName(hp), hp: hp}
		if !add(u, func() []chain { return hostPortChains(hp) }) {
			continue
		}
		who := "host port of pod " + hp.pod
		if hp.hostIP.IsValid() {
			take(mapServiceIPs, setKey{hp.hostIP, hp.proto, hp.port}, u.name, who)
		} else {
			take(mapServiceNodePorts, setKey{proto: hp.proto, port: hp.port}, u.name, who)
		}
	}
	slices.SortFunc(rs.units, func(a, b *unit) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return rs
}

func (rs *ruleset) unit(name string) *unit {
	if rs == nil {
		return nil
	}
	return rs.byName[name]
}

// epsMap is a service port's endpoint map: numgen's slot -> address .
// port. A plain data map, so its elements change without the kernel
// re-validating the table.
type epsMap struct {
	name  string
	proto uint8
	size  uint32 // slots, the rule's modulus; part of the map's typeof
	elems []epsElem
}

type epsElem struct {
	slot uint32
	addr netip.Addr
	port uint16
}

// sameSet says whether o can be updated into m element by element: nft
// records the modulus in the map's typeof, so a map of another size is
// replaced.
func (m *epsMap) sameSet(o *epsMap) bool {
	return m != nil && o != nil && m.name == o.name && m.proto == o.proto && m.size == o.size
}

// chains lists every chain, fixed ones first.
func (rs *ruleset) chains() []*chain {
	out := make([]*chain, 0, len(rs.static)+2*len(rs.units))
	for i := range rs.static {
		out = append(out, &rs.static[i])
	}
	for _, u := range rs.units {
		for i := range u.chains {
			out = append(out, &u.chains[i])
		}
	}
	return out
}
