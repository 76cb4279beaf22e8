package netrules

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/api"
)

// Pod is what Sync needs to know of a pod: its spec (labels and container
// ports), its address on the bridge (invalid while it has none) and
// whether it passes readiness.
type Pod struct {
	Pod   *api.Pod
	IP    netip.Addr
	Ready bool
}

// Endpoint is one pod behind one service port.
type Endpoint struct {
	Pod   string
	IP    netip.Addr
	Port  uint16
	Ready bool
}

// servicePort is one port of one service with every endpoint the selector
// finds, ready or not. It is what a service's chains are generated from.
type servicePort struct {
	service   string
	portName  string
	proto     uint8
	vip       netip.Addr
	port      uint16
	nodePort  uint16
	target    api.IntOrString
	endpoints []Endpoint // by IP, then port
}

// hostPort is a container port published on the node.
type hostPort struct {
	pod    string
	hostIP netip.Addr // invalid: every node address
	proto  uint8
	port   uint16
	ip     netip.Addr
	target uint16
}

func protocol(s string) (uint8, bool) {
	switch s {
	case "", api.ProtocolTCP:
		return unix.IPPROTO_TCP, true
	case api.ProtocolUDP:
		return unix.IPPROTO_UDP, true
	}
	return 0, false
}

// podIndex finds pods by one label, so that matching a thousand services
// against a thousand pods does not compare every pair.
type podIndex map[string][]*Pod // "key=value" -> pods, in input order

func indexPods(pods []Pod) podIndex {
	idx := podIndex{}
	for i := range pods {
		p := &pods[i]
		if p.Pod == nil || !p.IP.Is4() {
			continue // no address yet, or not on the IPv4 bridge
		}
		for k, v := range p.Pod.Metadata.Labels {
			idx[k+"="+v] = append(idx[k+"="+v], p)
		}
	}
	return idx
}

// selected returns the pods carrying every label of selector. An empty
// selector selects nothing: such a service has no endpoints, as in
// Kubernetes without a manual Endpoints object.
func (idx podIndex) selected(selector map[string]string) []*Pod {
	var best []*Pod
	first := true
	for k, v := range selector {
		c := idx[k+"="+v]
		if first || len(c) < len(best) {
			best, first = c, false
		}
	}
	var out []*Pod
	for _, p := range best {
		if matches(selector, p.Pod.Metadata.Labels) {
			out = append(out, p)
		}
	}
	return out
}

func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// targetPort resolves a service port's target on one pod: a number as is
// (zero means the service port), a name through the pod's container ports
// of the same protocol. ok is false when the pod has no such named port.
func targetPort(sp api.ServicePort, proto uint8, pod *api.Pod) (uint16, bool) {
	t := sp.TargetPort
	if !t.IsString {
		if t.IntVal == 0 {
			return uint16(sp.Port), true
		}
		return uint16(t.IntVal), true
	}
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			if p, ok := protocol(cp.Protocol); ok && p == proto && cp.Name == t.StrVal {
				return uint16(cp.ContainerPort), true
			}
		}
	}
	return 0, false
}

// skipped says why a service or port was left out of the ruleset.
type skipped struct {
	what, why string
}

// servicePorts lists every port of every usable service with its
// endpoints, ordered by service name and port order.
func servicePorts(services []api.Service, pods []Pod) ([]servicePort, []skipped) {
	idx := indexPods(pods)
	sorted := slices.Clone(services)
	slices.SortStableFunc(sorted, func(a, b api.Service) int { return strings.Compare(a.Metadata.Name, b.Metadata.Name) })
	var out []servicePort
	var skips []skipped
	for _, s := range sorted {
		sps, sk := portsOf(s, idx.selected)
		out = append(out, sps...)
		skips = append(skips, sk...)
	}
	return out, skips
}

// portsOf lists the usable ports of one service with their endpoints,
// the pods that selected finds for its selector.
func portsOf(s api.Service, selected func(map[string]string) []*Pod) ([]servicePort, []skipped) {
	vip, err := netip.ParseAddr(s.Spec.ClusterIP)
	if err != nil || !vip.Unmap().Is4() {
		return nil, []skipped{{s.Metadata.Name, "no IPv4 cluster IP allocated"}}
	}
	vip = vip.Unmap()
	var out []servicePort
	var skips []skipped
	pods := selected(s.Spec.Selector)
	for _, p := range s.Spec.Ports {
		proto, ok := protocol(p.Protocol)
		if !ok || p.Port < 1 || p.Port > 65535 {
			skips = append(skips, skipped{s.Metadata.Name + "/" + p.Name, "unsupported protocol or port"})
			continue
		}
		sp := servicePort{
			service: s.Metadata.Name, portName: p.Name, proto: proto, vip: vip,
			port: uint16(p.Port), target: p.TargetPort,
		}
		if s.Spec.Type == api.ServiceTypeNodePort && p.NodePort > 0 && p.NodePort <= 65535 {
			sp.nodePort = uint16(p.NodePort)
		}
		for _, pod := range pods {
			port, ok := targetPort(p, proto, pod.Pod)
			if !ok || port == 0 {
				continue
			}
			sp.endpoints = append(sp.endpoints, Endpoint{Pod: pod.Pod.Metadata.Name, IP: pod.IP, Port: port, Ready: pod.Ready})
		}
		slices.SortFunc(sp.endpoints, compareEndpoints)
		sp.endpoints = slices.CompactFunc(sp.endpoints, func(a, b Endpoint) bool { return a.IP == b.IP && a.Port == b.Port })
		out = append(out, sp)
	}
	return out, skips
}

func compareEndpoints(a, b Endpoint) int {
	if c := a.IP.Compare(b.IP); c != 0 {
		return c
	}
	return cmp.Compare(a.Port, b.Port)
}

// hostPorts lists the host ports of pods that have an address, ordered by
// pod name. Readiness does not matter, as with the CNI portmap plugin; pods
// on the host network bind the node's ports themselves.
func hostPorts(pods []Pod) ([]hostPort, []skipped) {
	var out []hostPort
	var skips []skipped
	for i := range pods {
		hps, sk := hostPortsOf(&pods[i])
		out = append(out, hps...)
		skips = append(skips, sk...)
	}
	slices.SortStableFunc(out, func(a, b hostPort) int { return strings.Compare(a.pod, b.pod) })
	return out, skips
}

func hostPortsOf(p *Pod) ([]hostPort, []skipped) {
	if p.Pod == nil || p.Pod.Spec.HostNetwork || !p.IP.Is4() {
		return nil, nil
	}
	var out []hostPort
	var skips []skipped
	for _, c := range p.Pod.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.HostPort == 0 {
				continue
			}
			proto, ok := protocol(cp.Protocol)
			if !ok || cp.HostPort < 1 || cp.HostPort > 65535 || cp.ContainerPort < 1 || cp.ContainerPort > 65535 {
				skips = append(skips, skipped{p.Pod.Metadata.Name + "/" + c.Name, "unsupported host port"})
				continue
			}
			hp := hostPort{pod: p.Pod.Metadata.Name, proto: proto, port: uint16(cp.HostPort), ip: p.IP, target: uint16(cp.ContainerPort)}
			if cp.HostIP != "" {
				a, err := netip.ParseAddr(cp.HostIP)
				switch {
				case err != nil || !a.Unmap().Is4():
					skips = append(skips, skipped{p.Pod.Metadata.Name + "/" + c.Name, "host IP " + cp.HostIP + " is not IPv4"})
					continue
				case !a.Unmap().IsUnspecified():
					hp.hostIP = a.Unmap()
				}
			}
			out = append(out, hp)
		}
	}
	return out, skips
}
