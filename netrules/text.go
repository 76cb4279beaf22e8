package netrules

import (
	"strconv"
	"strings"
)

// text renders the ruleset in nft syntax, as `nft -f` reads it and close to
// what `nft list table` prints: maps first (the dispatch maps, then the
// endpoint maps), then the fixed chains, then one group of chains per
// service port and host port, in name order.
func (rs *ruleset) text(table string) string {
	var b strings.Builder
	b.WriteString("table ip " + table + " {\n")
	bySet := map[string][]elem{}
	for _, e := range rs.elems {
		bySet[e.set] = append(bySet[e.set], e)
	}
	for _, m := range tableMaps {
		b.WriteString("\tmap " + m.name + " {\n\t\ttype ")
		if m.byAddr {
			b.WriteString("ipv4_addr . ")
		}
		b.WriteString("inet_proto . inet_service : verdict\n")
		if es := bySet[m.name]; len(es) > 0 {
			b.WriteString("\t\telements = {\n")
			for i, e := range es {
				b.WriteString("\t\t\t")
				e.text(&b)
				if i < len(es)-1 {
					b.WriteByte(',')
				}
				b.WriteByte('\n')
			}
			b.WriteString("\t\t}\n")
		}
		b.WriteString("\t}\n")
	}
	for _, u := range rs.units {
		if u.eps != nil {
			u.eps.text(&b)
		}
	}
	for _, c := range rs.chains() {
		b.WriteByte('\n')
		c.text(&b)
	}
	b.WriteString("}\n")
	return b.String()
}

func (m *epsMap) text(b *strings.Builder) {
	b.WriteString("\tmap " + m.name + " {\n\t\ttypeof numgen random mod " + strconv.Itoa(int(m.size)) +
		" : ip daddr . " + protoName(m.proto) + " dport\n")
	if len(m.elems) > 0 {
		b.WriteString("\t\telements = {\n")
		for i, e := range m.elems {
			b.WriteString("\t\t\t" + strconv.Itoa(int(e.slot)) + " : " + e.addr.String() + " . " + strconv.Itoa(int(e.port)))
			if i < len(m.elems)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString("\t\t}\n")
	}
	b.WriteString("\t}\n")
}

func (e elem) text(b *strings.Builder) {
	if e.key.addr.IsValid() {
		b.WriteString(e.key.addr.String() + " . ")
	}
	b.WriteString(protoName(e.key.proto) + " . " + strconv.Itoa(int(e.key.port)) + " : goto " + e.chain)
}

func (c *chain) text(b *strings.Builder) {
	b.WriteString("\tchain " + c.name + " {\n")
	if c.base != nil {
		b.WriteString("\t\ttype " + string(c.base.typ) + " hook " + c.base.hook +
			" priority " + strconv.Itoa(int(c.base.prio)) + "; policy accept;\n")
	}
	for _, r := range c.rules {
		b.WriteString("\t\t" + r.String() + "\n")
	}
	b.WriteString("\t}\n")
}
