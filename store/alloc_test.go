package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

func TestIPRange(t *testing.T) {
	tests := []struct {
		prefix      string
		first, last string
		ok          bool
	}{
		{"10.43.0.0/16", "10.43.0.2", "10.43.255.254", true},
		{"10.43.7.9/16", "10.43.0.2", "10.43.255.254", true}, // host bits ignored
		{"192.168.1.0/30", "192.168.1.2", "192.168.1.2", true},
		{"192.168.1.0/31", "", "", false},
		{"192.168.1.0/32", "", "", false},
		{"fd00:43::/112", "fd00:43::2", "fd00:43::ffff", true},
		{"fd00::/126", "fd00::2", "fd00::3", true},
		{"fd00::/127", "", "", false},
		{"::ffff:10.0.0.0/104", "", "", false},
	}
	for _, tt := range tests {
		first, last, ok := ipRange(netip.MustParsePrefix(tt.prefix))
		if ok != tt.ok || ok && (first.String() != tt.first || last.String() != tt.last) {
			t.Errorf("ipRange(%s) = %s, %s, %v; want %s, %s, %v", tt.prefix, first, last, ok, tt.first, tt.last, tt.ok)
		}
	}
}

func TestAllocateClusterIP(t *testing.T) {
	tests := []struct {
		cidr string
		want []string // for services s0, s1, ... in order; then the pool is full
	}{
		{"10.43.0.0/29", []string{"10.43.0.2", "10.43.0.3", "10.43.0.4", "10.43.0.5", "10.43.0.6"}},
		{"fd00:43::/125", []string{"fd00:43::2", "fd00:43::3", "fd00:43::4", "fd00:43::5", "fd00:43::6", "fd00:43::7"}},
	}
	for _, tt := range tests {
		t.Run(tt.cidr, func(t *testing.T) {
			ctx := context.Background()
			opts := Options{ServiceCIDR: netip.MustParsePrefix(tt.cidr)}
			s := openT(t, statePath(t), opts)
			for i, want := range tt.want {
				got, err := s.AllocateClusterIP(ctx, fmt.Sprint("s", i))
				if err != nil || got.String() != want {
					t.Fatalf("s%d: %s, %v; want %s", i, got, err, want)
				}
			}
			if _, err := s.AllocateClusterIP(ctx, "one-too-many"); !errors.Is(err, ErrExhausted) {
				t.Fatalf("allocation past the pool: %v, want ErrExhausted", err)
			}
			s = reopen(t, s, opts)
			for i, want := range tt.want {
				if got, err := s.AllocateClusterIP(ctx, fmt.Sprint("s", i)); err != nil || got.String() != want {
					t.Errorf("after reopen s%d: %s, %v; want %s", i, got, err, want)
				}
			}
			// Releasing frees exactly that address for the next newcomer.
			if err := s.ReleaseClusterIP(ctx, "s2"); err != nil {
				t.Fatal(err)
			}
			if err := s.ReleaseClusterIP(ctx, "s2"); err != nil {
				t.Fatalf("second release: %v", err)
			}
			if got, err := s.AllocateClusterIP(ctx, "newcomer"); err != nil || got.String() != tt.want[2] {
				t.Errorf("newcomer got %s, %v; want %s", got, err, tt.want[2])
			}
			all, err := s.ClusterIPs(ctx)
			if err != nil || len(all) != len(tt.want) || all["newcomer"].String() != tt.want[2] {
				t.Errorf("ClusterIPs = %v, %v", all, err)
			}
		})
	}
}

func TestAllocateDoesNotReuseAtOnce(t *testing.T) {
	// After a release, new allocations continue past the last one before
	// wrapping, so a freed address is not handed to another service at once.
	ctx := context.Background()
	s := openT(t, statePath(t), Options{ServiceCIDR: netip.MustParsePrefix("10.0.0.0/24")})
	a, _ := s.AllocateClusterIP(ctx, "a")
	if err := s.ReleaseClusterIP(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	b, _ := s.AllocateClusterIP(ctx, "b")
	if a == b {
		t.Errorf("released %s was reused at once", a)
	}
}

func TestReserveClusterIP(t *testing.T) {
	ctx := context.Background()
	s := openT(t, statePath(t), Options{ServiceCIDR: netip.MustParsePrefix("10.43.0.0/24")})
	if err := s.ReserveClusterIP(ctx, "dns", netip.MustParseAddr("10.43.0.10")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, service, addr string
		want                error
	}{
		{"same again", "dns", "10.43.0.10", nil},
		{"held by another", "web", "10.43.0.10", ErrConflict},
		{"service holds another", "dns", "10.43.0.11", ErrConflict},
		{"outside the CIDR", "web", "10.44.0.10", ErrInvalid},
		{"network address", "web", "10.43.0.0", ErrInvalid},
		{"first host", "web", "10.43.0.1", ErrInvalid},
		{"broadcast", "web", "10.43.0.255", ErrInvalid},
		{"other family", "web", "fd00::10", ErrInvalid},
		{"mapped form", "web", "::ffff:10.43.0.20", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.ReserveClusterIP(ctx, tt.service, netip.MustParseAddr(tt.addr)); !errors.Is(err, tt.want) {
				t.Errorf("ReserveClusterIP(%s, %s) = %v, want %v", tt.service, tt.addr, err, tt.want)
			}
		})
	}
	if err := s.ReserveClusterIP(ctx, "x", netip.Addr{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("reserve of the zero Addr: %v", err)
	}
	// Allocation skips reserved addresses and returns the reservation to its owner.
	for i := 2; i < 12; i++ {
		got, err := s.AllocateClusterIP(ctx, fmt.Sprint("svc", i))
		if err != nil || got == netip.MustParseAddr("10.43.0.10") {
			t.Fatalf("allocation %d = %s, %v", i, got, err)
		}
	}
	if got, _ := s.AllocateClusterIP(ctx, "dns"); got.String() != "10.43.0.10" {
		t.Errorf("dns allocated %s, want its reservation", got)
	}
	if got, _ := s.AllocateClusterIP(ctx, "web"); got.String() != "10.43.0.20" {
		t.Errorf("web allocated %s, want its reservation", got)
	}
}

func TestAllocateAfterCIDRChange(t *testing.T) {
	ctx := context.Background()
	s := openT(t, statePath(t), Options{ServiceCIDR: netip.MustParsePrefix("10.43.0.0/24")})
	old, _ := s.AllocateClusterIP(ctx, "web")
	opts := Options{ServiceCIDR: netip.MustParsePrefix("fd00:43::/120")}
	s = reopen(t, s, opts)
	got, err := s.AllocateClusterIP(ctx, "web")
	if err != nil || !opts.ServiceCIDR.Contains(got) {
		t.Fatalf("after the CIDR moved, web has %s (was %s), %v", got, old, err)
	}
	if again, _ := s.AllocateClusterIP(ctx, "web"); again != got {
		t.Errorf("second allocation moved again: %s -> %s", got, again)
	}
}
