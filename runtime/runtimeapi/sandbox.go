package runtimeapi

import (
	"context"
	"net/netip"
)

// Sandbox is what a pod's containers share: its directory, network
// namespace and address, hosts and resolv.conf.
//
// The network may be set up in the background while the first containers
// are created (CNI takes tens of milliseconds): the runtime then marks it
// pending (NetworkPending) and waits for it before it starts a task, so no
// container runs without its network.
type Sandbox struct {
	UID            string
	Dir            string
	NetNSPath      string // empty with hostNetwork
	HostsPath      string
	ResolvConfPath string

	netDone chan struct{}
	ip      netip.Addr
	netErr  error
}

// NetworkPending marks the sandbox's network as being set up; done records
// the outcome, once.
func (sb *Sandbox) NetworkPending() (done func(ip netip.Addr, err error)) {
	sb.netDone = make(chan struct{})
	return func(ip netip.Addr, err error) {
		sb.ip, sb.netErr = ip, err
		close(sb.netDone)
	}
}

// IP returns the pod's IP once its network is set up (ok false before).
func (sb *Sandbox) IP() (ip netip.Addr, ok bool) {
	if sb.netDone == nil {
		return netip.Addr{}, true
	}
	select {
	case <-sb.netDone:
		return sb.ip, sb.netErr == nil
	default:
		return netip.Addr{}, false
	}
}

// WaitNetwork waits until the pod's network is set up and returns its IP
// (invalid with hostNetwork).
func (sb *Sandbox) WaitNetwork(ctx context.Context) (netip.Addr, error) {
	if sb.netDone == nil {
		return netip.Addr{}, nil
	}
	select {
	case <-sb.netDone:
		return sb.ip, sb.netErr
	case <-ctx.Done():
		return netip.Addr{}, ctx.Err()
	}
}
