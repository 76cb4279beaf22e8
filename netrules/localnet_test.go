package netrules_test

import (
	"net/netip"
	"testing"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/netrules"
)

// TestLocalhostNodePorts: with LocalhostNodePorts (and route_localnet, as
// the agent sets it) node ports answer on 127.0.0.1 of the node, while a
// neighbour that routes 127.0.0.0/8 to the node cannot reach what listens
// on the node's localhost only (CVE-2020-8558).
func TestLocalhostNodePorts(t *testing.T) {
	n := webNode(t)
	if err := n.node.Do(netrules.EnableRouteLocalnet); err != nil {
		t.Fatal(err)
	}
	r := n.rules(t, netrules.Config{LocalhostNodePorts: true})
	mustSync(t, r, []api.Service{webService()}, webPods(n, "a", "b", "c"))
	spread(t, n.node, "tcp", "127.0.0.1:30080", "a", "b", "c")

	// An admin API on the node's localhost, and a LAN host that sends
	// 127.0.0.2 to the node.
	serve(t, n.node, netip.MustParseAddr("127.0.0.2"), 9999, "admin")
	if who, _, err := ask(n.node, "tcp", "127.0.0.2:9999"); err != nil || who != "admin" {
		t.Fatalf("the admin API does not answer on the node itself: %q, %v", who, err)
	}
	if err := n.lan.Do(netrules.EnableRouteLocalnet); err != nil {
		t.Fatal(err)
	}
	n.run(t, n.lan,
		"ip route del table local local 127.0.0.0/8 dev lo",
		"ip route add 127.0.0.2/32 via "+nodeLAN.String()+" dev eth0")
	if who, _, err := ask(n.lan, "tcp", "127.0.0.2:9999"); err == nil {
		t.Fatalf("a LAN host reached the node's localhost-only service (answered by %s)", who)
	}
	// Node ports still answer the LAN on the node's address.
	spread(t, n.lan, "tcp", nodeLAN.String()+":30080", "a", "b", "c")
}
