package netrules

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// elemChunk bounds the elements per netlink message: a message's element
// list is one attribute, and attribute lengths are 16 bits.
const elemChunk = 256

// emitter queues one batch on a Conn: nothing reaches the kernel before
// the caller's Flush.
type emitter struct {
	conn  *nftables.Conn
	table *nftables.Table
	sets  map[string]*nftables.Set
	msgs  int
	err   error
}

func newEmitter(conn *nftables.Conn, table string) *emitter {
	e := &emitter{conn: conn, table: &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}, sets: map[string]*nftables.Set{}}
	for _, m := range maps {
		e.sets[m.name] = &nftables.Set{Table: e.table, Name: m.name, IsMap: true, Concatenation: true,
			KeyType: m.keyType(), DataType: nftables.TypeVerdict}
	}
	return e
}

func (e *emitter) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *emitter) ref(name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: e.table}
}

var hooks = map[string]*nftables.ChainHook{
	"prerouting":  nftables.ChainHookPrerouting,
	"output":      nftables.ChainHookOutput,
	"postrouting": nftables.ChainHookPostrouting,
}

func (e *emitter) addChain(c *chain) {
	ch := e.ref(c.name)
	if c.base != nil {
		accept := nftables.ChainPolicyAccept
		ch.Type, ch.Hooknum, ch.Policy = c.base.typ, hooks[c.base.hook], &accept
		ch.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(c.base.prio))
	}
	e.conn.AddChain(ch)
	e.msgs++
}

func (e *emitter) addRules(c *chain) {
	ch := e.ref(c.name)
	for _, r := range c.rules {
		var exprs []expr.Any
		for _, s := range r {
			exprs = append(exprs, s.exprs(e)...)
		}
		e.conn.AddRule(&nftables.Rule{Table: e.table, Chain: ch, Exprs: exprs})
		e.msgs++
	}
}

func (e *emitter) flushChain(name string) { e.conn.FlushChain(e.ref(name)); e.msgs++ }
func (e *emitter) delChain(name string)   { e.conn.DelChain(e.ref(name)); e.msgs++ }

// anonVmap adds spread's constant map; the rule that follows refers to it
// by its batch ID.
func (e *emitter) anonVmap(targets []string) *nftables.Set {
	s := &nftables.Set{Table: e.table, Anonymous: true, Constant: true, IsMap: true,
		KeyType: anonVmapType, DataType: nftables.TypeVerdict, KeyByteOrder: binaryutil.NativeEndian}
	elems := make([]nftables.SetElement, len(targets))
	for i, t := range targets {
		elems[i] = nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)),
			VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: t}}
	}
	if err := e.conn.AddSet(s, elems); err != nil {
		e.fail(err)
	}
	e.msgs += 2
	return s
}

// keyBytes lays a key out as the kernel compares it: each part of a
// concatenation padded to 4 bytes, the port in network byte order.
func (k setKey) bytes() []byte {
	b := make([]byte, 0, 12)
	if k.addr.IsValid() {
		a := k.addr.As4()
		b = append(b, a[:]...)
	}
	return append(b, k.proto, 0, 0, 0, byte(k.port>>8), byte(k.port), 0, 0)
}

// elems adds (or, with del, deletes) map elements, in chunks.
func (e *emitter) elems(es []elem, del bool) {
	bySet := map[string][]nftables.SetElement{}
	for _, el := range es {
		se := nftables.SetElement{Key: el.key.bytes()}
		if !del {
			se.VerdictData = &expr.Verdict{Kind: expr.VerdictGoto, Chain: el.chain}
		}
		bySet[el.set] = append(bySet[el.set], se)
	}
	for _, m := range maps {
		all := bySet[m.name]
		for len(all) > 0 {
			n := min(len(all), elemChunk)
			var err error
			if del {
				err = e.conn.SetDeleteElements(e.sets[m.name], all[:n])
			} else {
				err = e.conn.SetAddElements(e.sets[m.name], all[:n])
			}
			if err != nil {
				e.fail(err)
			}
			e.msgs++
			all = all[n:]
		}
	}
}

// full replaces the table: adding and deleting it first makes the delete
// succeed whether or not it exists, and the whole batch is one transaction,
// so there is no moment without rules. Conntrack keeps the NAT of
// established connections, which therefore survive.
func (e *emitter) full(rs *ruleset) {
	e.conn.AddTable(e.table)
	e.conn.DelTable(e.table)
	e.conn.AddTable(e.table)
	e.msgs += 3
	chains := rs.chains()
	for _, c := range chains {
		e.addChain(c)
	}
	for _, m := range maps {
		if err := e.conn.AddSet(e.sets[m.name], nil); err != nil {
			e.fail(err)
		}
		e.msgs++
	}
	for _, c := range chains {
		e.addRules(c)
	}
	e.elems(rs.elems, false)
}

// partial changes only the units whose model changed and the map elements
// that differ. Order matters within the batch: chains exist before rules
// and elements point at them; rules and elements that point at a chain are
// gone before it is deleted.
func (e *emitter) partial(old, rs *ruleset) (changed int) {
	var added, rewritten []*chain
	var removed []string
	for _, u := range rs.units {
		if u.reused {
			continue
		}
		var before map[string]*chain
		if o := old.unit(u.name); o != nil {
			before = make(map[string]*chain, len(o.chains))
			for i := range o.chains {
				before[o.chains[i].name] = &o.chains[i]
			}
		}
		for i := range u.chains {
			c := &u.chains[i]
			switch o, ok := before[c.name]; {
			case !ok:
				added = append(added, c)
			case !sameRules(o, c):
				rewritten = append(rewritten, c)
			}
			delete(before, c.name)
		}
		for name := range before {
			removed = append(removed, name)
		}
	}
	for _, o := range old.units {
		if rs.unit(o.name) == nil {
			for _, c := range o.chains {
				removed = append(removed, c.name)
			}
		}
	}

	for _, c := range added {
		e.addChain(c)
	}
	for _, c := range rewritten {
		e.flushChain(c.name)
	}
	for _, name := range removed {
		e.flushChain(name)
	}
	for _, c := range added {
		e.addRules(c)
	}
	for _, c := range rewritten {
		e.addRules(c)
	}
	gone, fresh := diffElems(old.elems, rs.elems)
	e.elems(gone, true)
	e.elems(fresh, false)
	for _, name := range removed {
		e.delChain(name)
	}
	return len(added) + len(rewritten) + len(removed)
}

func sameRules(a, b *chain) bool {
	if len(a.rules) != len(b.rules) {
		return false
	}
	for i := range a.rules {
		if a.rules[i].String() != b.rules[i].String() {
			return false
		}
	}
	return true
}

// diffElems returns the elements only in old and those only in next. An
// element whose target changed is in both: deleted, then added again.
func diffElems(old, next []elem) (gone, fresh []elem) {
	in := make(map[elem]bool, len(old))
	for _, e := range old {
		in[e] = true
	}
	for _, e := range next {
		if in[e] {
			delete(in, e)
		} else {
			fresh = append(fresh, e)
		}
	}
	for _, e := range old {
		if in[e] {
			gone = append(gone, e)
		}
	}
	return gone, fresh
}
