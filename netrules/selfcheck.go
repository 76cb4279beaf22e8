package netrules

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// selfCheckTable is created and deleted within the same batch, so it never
// exists outside the kernel's transaction.
const selfCheckTable = "outpost-selfcheck"

// feature is one kernel capability the rules use, probed by programming
// the statements that need it.
type feature struct {
	name    string
	configs string // the kernel options that provide it
	maps    bool   // needs the named maps
	eps     *epsMap
	chains  []chain
}

var selfCheckEps = &epsMap{name: "eps", proto: unix.IPPROTO_TCP, size: 2,
	elems: []epsElem{{0, netip.MustParseAddr("127.0.0.1"), 1}, {1, netip.MustParseAddr("127.0.0.1"), 2}}}

var features = []feature{
	{name: "nat", configs: "CONFIG_NFT_NAT, CONFIG_NF_NAT", chains: []chain{{
		name: "nat", base: &baseChain{nftables.ChainTypeNAT, "prerouting", prioDstNAT},
		rules: []rule{{matchL4{unix.IPPROTO_TCP}, dnat{netip.MustParseAddr("127.0.0.1"), 1}}},
	}}},
	{name: "masquerade", configs: "CONFIG_NFT_MASQ", chains: []chain{{
		name: "masq", base: &baseChain{nftables.ChainTypeNAT, "postrouting", prioSrcNAT},
		rules: []rule{{matchOif{name: "lo"}, masquerade{}}},
	}}},
	{name: "numgen", configs: "CONFIG_NFT_NUMGEN, CONFIG_NF_TABLES_SET", eps: selfCheckEps, chains: []chain{{
		name: "numgen", base: &baseChain{nftables.ChainTypeNAT, "output", prioDstNAT},
		rules: []rule{{matchL4{unix.IPPROTO_TCP}, dnatMap{mod: selfCheckEps.size, set: selfCheckEps.name}}},
	}}},
	{name: "ct", configs: "CONFIG_NFT_CT, CONFIG_NF_CONNTRACK", chains: []chain{{
		name: "ct", rules: []rule{{matchCt{}}, {matchCt{dnat: true}}},
	}}},
	{name: "fib", configs: "CONFIG_NFT_FIB_IPV4 (CONFIG_NFT_FIB_INET for inet tables)", chains: []chain{{
		name: "fib", rules: []rule{{matchLocal{}}},
	}}},
	{name: "reject", configs: "CONFIG_NFT_REJECT, CONFIG_NFT_REJECT_IPV4", chains: []chain{{
		name: "reject", base: &baseChain{nftables.ChainTypeFilter, "prerouting", prioEndpointCheck},
		rules: []rule{{matchL4{unix.IPPROTO_TCP}, reject{tcp: true}}, {reject{}}},
	}}},
	{name: "verdict maps", configs: "CONFIG_NF_TABLES_SET (hash sets, built in since 5.x)", maps: true, chains: []chain{{
		name: "maps", rules: []rule{{vmapLookup{byAddr: true, set: mapServiceIPs}}, {vmapLookup{set: mapServiceNodePorts}}},
	}}},
}

// checkFeatures tries every feature in one batch and, only if that fails,
// each on its own to name the missing ones.
func checkFeatures(feats []feature, apply func([]feature) error) ([]string, error) {
	names := make([]string, len(feats))
	for i, f := range feats {
		names[i] = f.name
	}
	all := apply(feats)
	if all == nil {
		return names, nil
	}
	if err := apply(nil); err != nil {
		return nil, fmt.Errorf("netrules: %w: cannot create an nftables table (CONFIG_NF_TABLES, CONFIG_NF_TABLES_IPV4, and CAP_NET_ADMIN): %w",
			ErrUnsupported, err)
	}
	var found, missing []string
	var errs []error
	for _, f := range feats {
		if err := apply([]feature{f}); err != nil {
			missing = append(missing, f.name+" ("+f.configs+")")
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		} else {
			found = append(found, f.name)
		}
	}
	if len(missing) == 0 {
		return nil, fmt.Errorf("netrules: %w: the features work one by one but not together: %w", ErrUnsupported, all)
	}
	return found, fmt.Errorf("netrules: %w: missing %s: %w", ErrUnsupported, strings.Join(missing, ", "), errors.Join(errs...))
}

// selfCheck probes the kernel in a throwaway table, deleted by the same
// batch that creates it.
func (r *Rules) selfCheck(ctx context.Context) ([]string, error) {
	return checkFeatures(features, func(feats []feature) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := newEmitter(selfCheckTable, r.seq)
		e.nb.addTable()
		e.nb.delTable() // a leftover of a crash
		e.nb.addTable()
		for _, f := range feats {
			if f.maps {
				for _, m := range tableMaps {
					e.nb.addMap(m)
				}
				break
			}
		}
		for _, f := range feats {
			for i := range f.chains {
				e.addChain(&f.chains[i])
			}
			if f.eps != nil {
				e.nb.addEpsMap(f.eps)
				e.nb.epsElems(f.eps.name, f.eps.elems, false)
			}
		}
		for _, f := range feats {
			for i := range f.chains {
				e.addRules(&f.chains[i])
			}
		}
		e.nb.delTable()
		if e.nb.err != nil {
			return e.nb.err
		}
		return r.flush(ctx, e.nb)
	})
}
