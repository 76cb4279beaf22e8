// Package netrules is the node's kube-proxy: it turns services, the pods
// behind them and the pods' host ports into one nftables table, programmed
// over netlink (github.com/google/nftables; no nft binary at run time).
//
// It owns exactly one table (Config.TableName, family ip, default
// "outpost") and never reads or writes any other: Cleanup deletes that
// table and nothing else. It also owns one route, Config.ServiceCIDR via
// lo in the main table, marked with its own protocol number (route.go),
// and watches nftables' change notifications to repair the table when
// another process changes it (drift.go). The table looks like this (Dump shows it with
// its elements):
//
//	map service-ips           ip daddr . l4proto . dport -> goto svc-* | hostport-*
//	map service-nodeports     l4proto . dport (on a local address) -> goto svc-* | hostport-*
//	map no-endpoint-services  ip daddr . l4proto . dport -> goto no-endpoints
//	map no-endpoint-nodeports l4proto . dport (on a local address) -> goto no-endpoints
//	map eps-<service>-<proto>-<port>  slot -> endpoint ip . port (one per service port)
//
//	filter-prerouting, filter-output (filter, dstnat-10): ct state new -> endpoints-check
//	endpoints-check:  the no-endpoint maps; no-endpoints rejects (tcp reset, icmp port unreachable)
//	nat-prerouting, nat-output (nat, dstnat): jump services
//	services:         the service maps
//	svc-<service>-<proto>-<port>:  counter, dnat to numgen random mod N map @eps-*
//	hostport-<proto>[-<hostIP>]-<port>: dnat to the pod
//	nat-postrouting (nat, srcnat): masquerade pod traffic that was DNATed back
//	                  onto the bridge (hairpin, pod to service to pod) and pod
//	                  traffic leaving the pod CIDR through another interface.
//
// Why masquerade pod-to-service traffic: without br_netfilter the reply of
// a pod on the same bridge is bridged straight back to the client pod and
// never meets the node's conntrack, so it would not be un-DNATed. Traffic
// from the LAN and from the host needs no masquerade (every endpoint is
// local, replies route back through the node).
//
// Load balancing: N is the number of the service port's endpoints, ready
// or not, and each has a slot in the eps map; the slot of an endpoint that
// is not ready points at a ready one, in turn. A readiness change thus
// only rewrites elements of a data map. Any new rule holding a dnat, goto
// or map lookup makes the kernel validate the whole table, several
// milliseconds with a thousand services; data map elements do not. Only an endpoint appearing or going changes N, and so
// the rule and the map (nft records N in the map's typeof). The cost: the
// spread is even only within rounding while some endpoints are not ready
// (2 of 3 ready: 2/3 and 1/3). Per-endpoint counters went with the
// per-endpoint chains; the service chain counts.
//
// Every sync is one netlink batch, so it applies entirely or not at all: the
// first sync, and any sync after an error, replaces the whole table
// atomically (delete and re-create in the same batch); later syncs touch
// only the chains and map elements of services that changed. NAT decisions
// are taken for the first packet of a connection, so an endpoint that stops
// being ready gets no new connections while its established ones continue
// (conntrack holds their translation). UDP "connections" to a removed
// endpoint also live on until their conntrack entry times out: this package
// does not delete conntrack entries.
//
// The rules are generated into a small description (chains of statements
// and map elements) from which both the netlink messages and nft-syntax
// text are produced, so generation is tested as text without a kernel.
package netrules
