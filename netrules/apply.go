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
	"input":       nftables.ChainHookInput,
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
	for _, u := range rs.units {
		if u.eps != nil {
			e.nb.addEpsMap(u.eps)
			e.nb.epsElems(u.eps.name, u.eps.elems, false)
		}
	}
	for _, c := range chains {
		e.addRules(c)
	}
	e.elems(rs.elems, false)
}

// partial changes only the units whose model changed and the map elements
// that differ. Order matters within the batch: chains and endpoint maps
// exist before rules and elements point at them; rules and elements that
// point at a chain or map are gone before it is deleted. An endpoint map
// whose size stays is updated element by element; one of another size is
// deleted and added again, after its rule is flushed.
func (e *emitter) partial(old, rs *ruleset) (changed int) {
	var added, rewritten []*chain
	var removed, mapsGone []string
	var mapsNew []*epsMap
	type epsDiff struct {
		set         string
		gone, fresh []epsElem
	}
	var epsDiffs []epsDiff
	for _, u := range rs.units {
		if u.reused {
			continue
		}
		o := old.unit(u.name)
		var oldEps *epsMap
		if o != nil {
			oldEps = o.eps
		}
		switch {
		case u.eps.sameSet(oldEps):
			gone, fresh := diffEps(oldEps.elems, u.eps.elems)
			epsDiffs = append(epsDiffs, epsDiff{u.eps.name, gone, fresh})
		default:
			if oldEps != nil {
				mapsGone = append(mapsGone, oldEps.name)
			}
			if u.eps != nil {
				mapsNew = append(mapsNew, u.eps)
			}
		}
		var before map[string]*chain
		if o != nil {
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
			if o.eps != nil {
				mapsGone = append(mapsGone, o.eps.name)
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
	for _, name := range mapsGone {
		e.nb.delSet(name)
	}
	for _, m := range mapsNew {
		e.nb.addEpsMap(m)
		e.nb.epsElems(m.name, m.elems, false)
	}
	for _, d := range epsDiffs {
		e.nb.epsElems(d.set, d.gone, true)
		e.nb.epsElems(d.set, d.fresh, false)
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
	return len(added) + len(rewritten) + len(removed) + len(mapsGone) + len(mapsNew)
}

// diffEps returns the slots to delete and the slots to add (again) to
// turn old into next; both are ordered by slot.
func diffEps(old, next []epsElem) (gone, fresh []epsElem) {
	i, j := 0, 0
	for i < len(old) || j < len(next) {
		switch {
		case j == len(next) || i < len(old) && old[i].slot < next[j].slot:
			gone = append(gone, old[i])
			i++
		case i == len(old) || next[j].slot < old[i].slot:
			fresh = append(fresh, next[j])
			j++
		default:
			if old[i] != next[j] {
				gone, fresh = append(gone, old[i]), append(fresh, next[j])
			}
			i++
			j++
		}
	}
	return gone, fresh
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
