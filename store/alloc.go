package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"

	bolt "go.etcd.io/bbolt"
)

// Service cluster IPs come from Options.ServiceCIDR. The network address and
// the first host address (kept for the node's own service, as Kubernetes
// does) are never handed out, nor is an IPv4 prefix's broadcast address.
// Allocations are keyed by service name and survive restarts until released.

// AllocateClusterIP returns the cluster IP of service name, allocating a free
// one the first time. An address that no longer lies in the configured CIDR
// is replaced. ErrExhausted when the CIDR is full.
func (s *Store) AllocateClusterIP(ctx context.Context, name string) (netip.Addr, error) {
	if err := validServiceName(name); err != nil {
		return netip.Addr{}, fmt.Errorf("store: allocate cluster IP: %w", err)
	}
	first, last, _ := ipRange(s.opts.ServiceCIDR)
	var got, moved netip.Addr
	err := s.update(ctx, func(tx *bolt.Tx) error {
		ip := tx.Bucket(bucketAlloc).Bucket(bucketClusterIP)
		byName, byAddr := ip.Bucket(bucketByName), ip.Bucket(bucketByAddr)
		if old := byName.Get([]byte(name)); old != nil {
			if a, ok := decodeAddr(old); ok && inRange(a, first, last) {
				got = a
				return errRollback
			}
			moved, _ = decodeAddr(old)
			if err := byAddr.Delete(old); err != nil {
				return err
			}
		}
		start := first
		if a, ok := decodeAddr(ip.Get(keyNextIP)); ok && inRange(a, first, last) {
			start = a
		}
		a, ok := findFree(byAddr, start, first, last)
		if !ok {
			return fmt.Errorf("store: allocate cluster IP for %s: %w: every address of %s is allocated",
				name, ErrExhausted, s.opts.ServiceCIDR)
		}
		got = a
		next := first
		if a != last {
			next = a.Next()
		}
		return errors.Join(byName.Put([]byte(name), addrKey(a)), byAddr.Put(addrKey(a), []byte(name)),
			ip.Put(keyNextIP, addrKey(next)))
	})
	if errors.Is(err, errRollback) {
		return got, nil
	}
	if err != nil {
		return netip.Addr{}, err
	}
	l := s.log.Info().Str("service", name).Stringer("clusterIP", got)
	if moved.IsValid() {
		l = l.Stringer("previous", moved)
	}
	l.Msg("cluster IP allocated")
	return got, nil
}

// ReserveClusterIP gives addr to service name: ErrInvalid when addr is not
// allocatable in the CIDR, ErrConflict when another service holds it or name
// already holds another address. Reserving what name already holds is a no-op.
func (s *Store) ReserveClusterIP(ctx context.Context, name string, addr netip.Addr) error {
	if err := validServiceName(name); err != nil {
		return fmt.Errorf("store: reserve cluster IP: %w", err)
	}
	addr = addr.WithZone("")
	if addr.Is4In6() {
		addr = addr.Unmap()
	}
	first, last, _ := ipRange(s.opts.ServiceCIDR)
	if !inRange(addr, first, last) {
		return fmt.Errorf("store: reserve cluster IP %s for %s: %w: not an allocatable address of %s (%s to %s)",
			addr, name, ErrInvalid, s.opts.ServiceCIDR, first, last)
	}
	key := addrKey(addr)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		ip := tx.Bucket(bucketAlloc).Bucket(bucketClusterIP)
		byName, byAddr := ip.Bucket(bucketByName), ip.Bucket(bucketByAddr)
		if owner := byAddr.Get(key); owner != nil {
			if string(owner) == name {
				return errRollback
			}
			return fmt.Errorf("store: reserve cluster IP %s for %s: %w: held by service %s", addr, name, ErrConflict, owner)
		}
		if old := byName.Get([]byte(name)); old != nil {
			if a, ok := decodeAddr(old); ok && inRange(a, first, last) {
				return fmt.Errorf("store: reserve cluster IP %s for %s: %w: the service holds %s; release it first",
					addr, name, ErrConflict, a)
			}
			if err := byAddr.Delete(old); err != nil {
				return err
			}
		}
		return errors.Join(byName.Put([]byte(name), key), byAddr.Put(key, []byte(name)))
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	if err == nil {
		s.log.Info().Str("service", name).Stringer("clusterIP", addr).Msg("cluster IP reserved")
	}
	return err
}

// ReleaseClusterIP frees the address of service name; releasing a name that
// holds none does nothing.
func (s *Store) ReleaseClusterIP(ctx context.Context, name string) error {
	if err := validServiceName(name); err != nil {
		return fmt.Errorf("store: release cluster IP: %w", err)
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		ip := tx.Bucket(bucketAlloc).Bucket(bucketClusterIP)
		byName, byAddr := ip.Bucket(bucketByName), ip.Bucket(bucketByAddr)
		old := byName.Get([]byte(name))
		if old == nil {
			return errRollback
		}
		if owner := byAddr.Get(old); string(owner) == name {
			if err := byAddr.Delete(old); err != nil {
				return err
			}
		}
		return byName.Delete([]byte(name))
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

// ClusterIPs returns every allocation, by service name.
func (s *Store) ClusterIPs(ctx context.Context) (map[string]netip.Addr, error) {
	out := map[string]netip.Addr{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		byName := tx.Bucket(bucketAlloc).Bucket(bucketClusterIP).Bucket(bucketByName)
		return byName.ForEach(func(k, v []byte) error {
			if a, ok := decodeAddr(v); ok {
				out[string(k)] = a
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// findFree walks the allocated addresses from start (wrapping to first after
// last) and returns the first gap. byAddr keys sort numerically, so the walk
// visits allocated runs only: it costs the number of allocations, not the
// size of the CIDR.
func findFree(byAddr *bolt.Bucket, start, first, last netip.Addr) (netip.Addr, bool) {
	c := byAddr.Cursor()
	cand, wrapped := start, false
	k, _ := c.Seek(addrKey(cand))
	for {
		if k == nil || !bytes.Equal(k, addrKey(cand)) {
			return cand, true
		}
		if cand == last {
			if wrapped || start == first {
				return netip.Addr{}, false
			}
			wrapped, cand = true, first
			k, _ = c.Seek(addrKey(cand))
		} else {
			cand = cand.Next()
			k, _ = c.Next()
		}
		if wrapped && cand == start {
			return netip.Addr{}, false
		}
	}
}

// ipRange returns the first and last allocatable addresses of p.
func ipRange(p netip.Prefix) (first, last netip.Addr, ok bool) {
	if !p.IsValid() || p.Addr().Is4In6() {
		return first, last, false
	}
	p = p.Masked()
	first = p.Addr().Next().Next()
	if p.Addr().Is4() {
		b := p.Addr().As4()
		setHostBits(b[:], p.Bits())
		last = netip.AddrFrom4(b).Prev() // broadcast
	} else {
		b := p.Addr().As16()
		setHostBits(b[:], p.Bits())
		last = netip.AddrFrom16(b)
	}
	ok = first.IsValid() && last.IsValid() && p.Contains(first) && first.Compare(last) <= 0
	return first, last, ok
}

func setHostBits(b []byte, bits int) {
	for i := range b {
		switch lo := i * 8; {
		case lo >= bits:
			b[i] = 0xff
		case lo+8 > bits:
			b[i] |= 0xff >> (bits - lo)
		}
	}
}

func inRange(a, first, last netip.Addr) bool {
	return a.IsValid() && a.Is4() == first.Is4() && a.Compare(first) >= 0 && a.Compare(last) <= 0
}

// addrKey is a family byte (4 or 6) and the 16-byte form: all keys have one
// length and sort numerically within a family.
func addrKey(a netip.Addr) []byte {
	fam := byte(6)
	if a.Is4() {
		fam = 4
	}
	b16 := a.As16()
	return append([]byte{fam}, b16[:]...)
}

func decodeAddr(k []byte) (netip.Addr, bool) {
	if len(k) != 17 || (k[0] != 4 && k[0] != 6) {
		return netip.Addr{}, false
	}
	a := netip.AddrFrom16([16]byte(k[1:]))
	if k[0] == 4 {
		if !a.Is4In6() {
			return netip.Addr{}, false
		}
		a = a.Unmap()
	}
	return a, true
}

func validServiceName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%w: service name must have 1 to %d bytes", ErrInvalid, maxNameLen)
	}
	return nil
}
