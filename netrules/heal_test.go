package netrules_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/netrules"
)

// TestFlushRulesetIsRepaired: `nft flush ruleset` (a firewall reload)
// deletes the table; Resync says so at once and the next Sync, with the
// same services, programs the table again. The table's own full syncs do
// not wake Resync (they would loop).
func TestFlushRulesetIsRepaired(t *testing.T) {
	n := webNode(t)
	nft := requireNft(t)
	r := n.rules(t, netrules.Config{FullSyncPeriod: -1})
	svcs, pods := []api.Service{webService()}, webPods(n, "a")
	mustSync(t, r, svcs, pods)
	mustSync(t, r, svcs, webPods(n, "b"))
	spread(t, n.pods["c"], "tcp", vip+":80", "b")

	// Someone else's change to another table is none of our business; a
	// change to ours is, and is seen after every notification before it:
	// when it is, the table's own syncs must not have counted.
	n.run(t, n.node, nft+" add table ip other")
	n.run(t, n.node, nft+" add chain ip outpost marker")
	select {
	case <-r.Resync():
	case <-time.After(30 * time.Second):
		t.Fatal("Resync did not wake after another process added a chain")
	}
	if got := r.Status().ForeignChanges; got != 1 {
		t.Fatalf("%d foreign changes seen, want 1 (the marker chain): the table's own syncs counted", got)
	}
	mustSync(t, r, svcs, webPods(n, "b"))
	n.run(t, n.node, nft+" flush ruleset")
	if _, _, err := ask(n.pods["c"], "tcp", vip+":80"); err == nil {
		t.Fatal("the service answered with the ruleset flushed")
	}
	select {
	case <-r.Resync():
	case <-time.After(30 * time.Second):
		t.Fatal("Resync did not wake after nft flush ruleset")
	}
	mustSync(t, r, svcs, webPods(n, "b"))
	spread(t, n.pods["c"], "tcp", vip+":80", "b")
	spread(t, n.node, "tcp", vip+":80", "b")

	// A deleted chain (not the table) is repaired too.
	n.run(t, n.node, nft+" flush chain ip outpost services")
	select {
	case <-r.Resync():
	case <-time.After(30 * time.Second):
		t.Fatal("Resync did not wake after a chain was flushed")
	}
	mustSync(t, r, svcs, webPods(n, "b"))
	spread(t, n.pods["c"], "tcp", vip+":80", "b")
}

// TestFullSyncPeriod: the period wakes Resync and the next Sync replaces
// the table even though nothing changed.
func TestFullSyncPeriod(t *testing.T) {
	n := webNode(t)
	r := n.rules(t, netrules.Config{FullSyncPeriod: 50 * time.Millisecond})
	svcs, pods := []api.Service{webService()}, webPods(n, "a")
	mustSync(t, r, svcs, pods)
	mustSync(t, r, svcs, pods)
	if r.Status().Full {
		t.Fatal("an unchanged sync replaced the table")
	}
	select {
	case <-r.Resync():
	case <-time.After(30 * time.Second):
		t.Fatal("Resync did not wake after the full sync period")
	}
	mustSync(t, r, svcs, pods)
	if !r.Status().Full {
		t.Fatal("the sync after the full sync period did not replace the table")
	}
}

// TestNodeReachesVIPWithoutDefaultRoute: a node whose uplink is down (no
// default route) still reaches service VIPs from its own processes (and
// hostNetwork pods), through the service CIDR's route via lo, and a node
// with a default route still does too. The route is the agent's alone:
// a changed CIDR moves it, Cleanup removes it.
func TestNodeReachesVIPWithoutDefaultRoute(t *testing.T) {
	for _, tc := range []struct {
		name         string
		defaultRoute bool
	}{{"no default route", false}, {"default route", true}} {
		t.Run(tc.name, func(t *testing.T) {
			n := webNode(t)
			if !tc.defaultRoute {
				n.run(t, n.node, "ip route del default")
			}
			cidr := netip.MustParsePrefix("10.96.0.0/16")
			r := n.rules(t, netrules.Config{ServiceCIDR: cidr})
			svcs, pods := []api.Service{webService()}, webPods(n, "a", "b")
			mustSync(t, r, svcs, pods)
			spread(t, n.node, "tcp", vip+":80", "a", "b")
			spread(t, n.node, "udp", vip+":53", "a", "b")
			spread(t, n.pods["c"], "tcp", vip+":80", "a", "b")
			if got := ourRoutes(t, n); got != "10.96.0.0/16 dev lo" {
				t.Fatalf("routes of ours: %q", got)
			}
			mustSync(t, r, svcs, pods) // idempotent
			if got := ourRoutes(t, n); got != "10.96.0.0/16 dev lo" {
				t.Fatalf("routes of ours after a second sync: %q", got)
			}
			// Another service CIDR (the configuration changed): the old
			// route goes at the first (full) sync.
			r2 := n.rules(t, netrules.Config{ServiceCIDR: netip.MustParsePrefix("10.97.0.0/16")})
			mustSync(t, r2, nil, nil)
			if got := ourRoutes(t, n); got != "10.97.0.0/16 dev lo" {
				t.Fatalf("routes of ours after the CIDR changed: %q", got)
			}
			if err := r2.Cleanup(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := ourRoutes(t, n); got != "" {
				t.Fatalf("routes of ours after Cleanup: %q", got)
			}
			if tc.defaultRoute && !strings.Contains(routes(t, n), "default via") {
				t.Fatal("the default route went")
			}
		})
	}
}

func routes(t *testing.T, n *node) string {
	t.Helper()
	var out strings.Builder
	n.runOut(t, n.node, &out, "ip -4 route show table main")
	return out.String()
}

// ourRoutes are the routes netrules marks as its own (protocol 79).
func ourRoutes(t *testing.T, n *node) string {
	t.Helper()
	var out strings.Builder
	n.runOut(t, n.node, &out, "ip -4 route show table main proto 79")
	return strings.Join(strings.Fields(strings.ReplaceAll(out.String(), "scope link", "")), " ")
}
