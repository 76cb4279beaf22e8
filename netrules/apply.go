package netrules

import (
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// emitter encodes one sync's batch: nothing reaches the kernel before
// the caller sends it.
type emitter struct {
	nb *nlBatch
}

func newEmitter(table string, seq uint32) *emitter {
	return &emitter{nb: newBatch(table, seq)}
}

var hooks = map[string]*nftables.ChainHook{
	"prerouting":  nftables.ChainHookPrerouting,
	"output":      nftables.ChainHookOutput,
	"postrouting": nftables.ChainHookPostrouting,
}

func (e *emitter) addChain(c *chain) { e.nb.addChain(c) }

func (e *emitter) addRules(c *chain) {
	for _, r := range c.rules {
		var exprs []expr.Any
		for _, s := range r {
			exprs = append(exprs, s.exprs(e)...)
		}
		e.nb.addRule(c.name, exprs)
	}
}

func (e *emitter) flushChain(name string) { e.nb.chainMsg(unix.NFT_MSG_DELRULE, name) }
func (e *emitter) delChain(name string)   { e.nb.chainMsg(unix.NFT_MSG_DELCHAIN, name) }

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

// elems adds (or, with del, deletes) map elements, many per message.
func (e *emitter) elems(es []elem, del bool) {
	bySet := map[string][]elem{}
	for _, el := range es {
		bySet[el.set] = append(bySet[el.set], el)
	}
	for _, m := range tableMaps {
		e.nb.elems(m.name, bySet[m.name], del)
	}
}

// full replaces the table: adding and deleting it first makes the delete
// succeed whether or not it exists, and the whole batch is one transaction,
// so there is no moment without rules. Conntrack keeps the NAT of
// established connections, which therefore survive.
func (e *emitter) full(rs *ruleset) {
	e.nb.addTable()
	e.nb.delTable()
	e.nb.addTable()
	chains := rs.chains()
	for _, c := range chains {
		e.addChain(c)
	}
	for _, m := range tableMaps {
		e.nb.addMap(m)
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
