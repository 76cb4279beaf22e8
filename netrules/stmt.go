package netrules

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// A stmt is one statement of a rule. Each renders itself twice from the
// same value: as nft text (Dump, the tests, the nft -f baseline) and as the
// netlink expressions the kernel gets, so the two cannot drift apart.
type stmt interface {
	text(b *strings.Builder)
	exprs(e *emitter) []expr.Any
}

// rule is a list of statements, evaluated left to right.
type rule []stmt

func (r rule) String() string {
	var b strings.Builder
	for i, s := range r {
		if i > 0 {
			b.WriteByte(' ')
		}
		s.text(&b)
	}
	return b.String()
}

// Offsets of the addresses in the IPv4 header.
const (
	saddr = 12
	daddr = 16
)

// Registers: nft's 16-byte register 1 is also the 4-byte registers 8 to
// 11, so a concatenated key loaded into 1, 9 and 10 is read from 1.
const (
	reg1   = 1
	reg2   = 2
	reg32b = 9
	reg32c = 10
)

// Conntrack bits, in host byte order as the kernel loads them.
const (
	ctStateNew = 1 << 3 // NF_CT_STATE_BIT(IP_CT_NEW)
	ctDstNAT   = 1 << 5 // IPS_DST_NAT
)

func protoName(p uint8) string {
	switch p {
	case unix.IPPROTO_TCP:
		return "tcp"
	case unix.IPPROTO_UDP:
		return "udp"
	}
	return strconv.Itoa(int(p))
}

// matchIP: ip saddr|daddr [!=] prefix.
type matchIP struct {
	offset uint32 // saddr or daddr
	prefix netip.Prefix
	neg    bool
}

func (s matchIP) text(b *strings.Builder) {
	b.WriteString("ip ")
	if s.offset == saddr {
		b.WriteString("saddr ")
	} else {
		b.WriteString("daddr ")
	}
	if s.neg {
		b.WriteString("!= ")
	}
	if s.prefix.IsSingleIP() {
		b.WriteString(s.prefix.Addr().String())
	} else {
		b.WriteString(s.prefix.Masked().String())
	}
}

func (s matchIP) exprs(*emitter) []expr.Any {
	op := expr.CmpOpEq
	if s.neg {
		op = expr.CmpOpNeq
	}
	p := s.prefix.Masked()
	a := p.Addr().As4()
	out := []expr.Any{&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: s.offset, Len: 4}}
	if p.Bits() < 32 {
		mask := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-p.Bits()))
		out = append(out, &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: mask, Xor: make([]byte, 4)})
	}
	return append(out, &expr.Cmp{Op: op, Register: reg1, Data: a[:]})
}

// matchL4: meta l4proto tcp|udp.
type matchL4 struct{ proto uint8 }

func (s matchL4) text(b *strings.Builder) { b.WriteString("meta l4proto " + protoName(s.proto)) }

func (s matchL4) exprs(*emitter) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{s.proto}},
	}
}

// matchOif: oifname [!=] "name".
type matchOif struct {
	name string
	neg  bool
}

func (s matchOif) text(b *strings.Builder) {
	b.WriteString("oifname ")
	if s.neg {
		b.WriteString("!= ")
	}
	b.WriteString(strconv.Quote(s.name))
}

func (s matchOif) exprs(*emitter) []expr.Any {
	op := expr.CmpOpEq
	if s.neg {
		op = expr.CmpOpNeq
	}
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, s.name)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: reg1},
		&expr.Cmp{Op: op, Register: reg1, Data: name},
	}
}

// matchLocal: fib daddr type local (the packet is for one of the node's
// addresses).
type matchLocal struct{}

func (matchLocal) text(b *strings.Builder) { b.WriteString("fib daddr type local") }

func (matchLocal) exprs(*emitter) []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: reg1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// matchCt: ct state new, or ct status dnat.
type matchCt struct {
	dnat bool // ct status dnat; else ct state new
	neg  bool // with dnat: the connection was not DNATed
}

func (s matchCt) text(b *strings.Builder) {
	switch {
	case s.dnat && s.neg:
		b.WriteString("ct status ! dnat")
	case s.dnat:
		b.WriteString("ct status dnat")
	default:
		b.WriteString("ct state new")
	}
}

func (s matchCt) exprs(*emitter) []expr.Any {
	key, bit := expr.CtKeySTATE, uint32(ctStateNew)
	if s.dnat {
		key, bit = expr.CtKeySTATUS, ctDstNAT
	}
	op := expr.CmpOpNeq // the bit is set
	if s.neg {
		op = expr.CmpOpEq
	}
	return []expr.Any{
		&expr.Ct{Register: reg1, Key: key},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bit), Xor: make([]byte, 4)},
		&expr.Cmp{Op: op, Register: reg1, Data: make([]byte, 4)},
	}
}

// vmapLookup: [ip daddr .] meta l4proto . th dport vmap @set.
type vmapLookup struct {
	byAddr bool
	set    string
}

func (s vmapLookup) text(b *strings.Builder) {
	if s.byAddr {
		b.WriteString("ip daddr . ")
	}
	b.WriteString("meta l4proto . th dport vmap @" + s.set)
}

func (s vmapLookup) exprs(*emitter) []expr.Any {
	protoReg, portReg := uint32(reg1), uint32(reg32b)
	var out []expr.Any
	if s.byAddr {
		out = append(out, &expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: daddr, Len: 4})
		protoReg, portReg = reg32b, reg32c
	}
	return append(out,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: protoReg},
		&expr.Payload{DestRegister: portReg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: reg1, SetName: s.set, IsDestRegSet: true, DestRegister: 0},
	)
}

// dnatMap: dnat ip to numgen random mod N map @set, the load balancer:
// numgen picks a slot, the service port's endpoint map gives its address
// . port (after a matchL4, as nft requires).
type dnatMap struct {
	mod uint32
	set string
}

func (s dnatMap) text(b *strings.Builder) {
	fmt.Fprintf(b, "dnat ip to numgen random mod %d map @%s", s.mod, s.set)
}

func (s dnatMap) exprs(*emitter) []expr.Any {
	return []expr.Any{
		&expr.Numgen{Register: reg1, Modulus: s.mod, Type: unix.NFT_NG_RANDOM},
		// The address lands in register 1's first 4 bytes, the port in
		// the next 4, register 9.
		&expr.Lookup{SourceRegister: reg1, SetName: s.set, IsDestRegSet: true, DestRegister: reg1},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1, RegProtoMin: reg32b, Specified: true},
	}
}

// counter counts packets and bytes; Dump's reader sees them with nft.
type counter struct{}

func (counter) text(b *strings.Builder)   { b.WriteString("counter") }
func (counter) exprs(*emitter) []expr.Any { return []expr.Any{&expr.Counter{}} }

// dnat: dnat to addr:port (after a matchL4, as nft requires).
type dnat struct {
	addr netip.Addr
	port uint16
}

func (s dnat) text(b *strings.Builder) {
	b.WriteString("dnat to " + netip.AddrPortFrom(s.addr, s.port).String())
}

func (s dnat) exprs(*emitter) []expr.Any {
	a := s.addr.As4()
	return []expr.Any{
		&expr.Immediate{Register: reg1, Data: a[:]},
		&expr.Immediate{Register: reg2, Data: binaryutil.BigEndian.PutUint16(s.port)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1, RegProtoMin: reg2, Specified: true},
	}
}

// masquerade: source NAT to the outgoing interface's address.
type masquerade struct{}

func (masquerade) text(b *strings.Builder)   { b.WriteString("masquerade") }
func (masquerade) exprs(*emitter) []expr.Any { return []expr.Any{&expr.Masq{}} }

// reject: with tcp reset (after matchL4 tcp) or icmp port-unreachable.
type reject struct{ tcp bool }

func (s reject) text(b *strings.Builder) {
	if s.tcp {
		b.WriteString("reject with tcp reset")
	} else {
		b.WriteString("reject with icmp port-unreachable")
	}
}

func (s reject) exprs(*emitter) []expr.Any {
	if s.tcp {
		return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}}
	}
	return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpPortUnreachable}}
}

// drop: the packet goes no further.
type drop struct{}

func (drop) text(b *strings.Builder)   { b.WriteString("drop") }
func (drop) exprs(*emitter) []expr.Any { return []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}} }

// verdict: jump or goto a chain.
type verdict struct {
	goTo  bool
	chain string
}

func (s verdict) text(b *strings.Builder) {
	if s.goTo {
		b.WriteString("goto " + s.chain)
	} else {
		b.WriteString("jump " + s.chain)
	}
}

func (s verdict) exprs(*emitter) []expr.Any {
	k := expr.VerdictJump
	if s.goTo {
		k = expr.VerdictGoto
	}
	return []expr.Any{&expr.Verdict{Kind: k, Chain: s.chain}}
}

// icmpPortUnreachable is ICMP destination unreachable's code 3.
const icmpPortUnreachable = 3
