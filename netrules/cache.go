package netrules

import (
	"maps"
	"slices"
	"strings"

	"github.com/outpost-edge/outpost/api"
)

// endpointCache remembers what the last sync computed from its services
// and pods, so that the next one recomputes only the services whose spec
// changed or whose selector matches a pod that changed (appeared, went,
// moved, changed readiness, labels or ports). With ten thousand pods
// behind a thousand services, recomputing them all would cost more than
// programming the kernel.
//
// Sync passes whole lists, and the caller may reuse or change its
// *api.Pod values in place, so entries keep copies of what they compare.
type endpointCache struct {
	pods      map[string]*podEntry
	byLabel   map[string]map[string]*podEntry // "key=value" -> pod name -> entry (pods with an IPv4 address)
	services  map[string]*svcEntry
	bySel     map[string]map[string]bool // "key=value" of a selector -> service names
	names     []string                   // of services, sorted
	order     []*podEntry                // pods as last passed
	hostPorts []hostPort
	hostSkips []skipped
	pass      uint64
}

type podEntry struct {
	name   string
	pod    Pod
	labels map[string]string
	kv     []string // labels again, key value key value: comparing by lookups is cheaper than iterating the map
	ports  []api.ContainerPort
	hostNw bool
	pass   uint64
}

type svcEntry struct {
	spec  api.ServiceSpec // Selector and Ports copied
	sps   []servicePort
	skips []skipped
	pass  uint64
}

func newEndpointCache() *endpointCache {
	return &endpointCache{pods: map[string]*podEntry{}, byLabel: map[string]map[string]*podEntry{},
		services: map[string]*svcEntry{}, bySel: map[string]map[string]bool{}}
}

func (e *podEntry) same(p *Pod) bool {
	labels := p.Pod.Metadata.Labels
	if e.pod.IP != p.IP || e.pod.Ready != p.Ready || e.hostNw != p.Pod.Spec.HostNetwork || len(labels) != len(e.labels) {
		return false
	}
	for i := 0; i < len(e.kv); i += 2 {
		if v, ok := labels[e.kv[i]]; !ok || v != e.kv[i+1] {
			return false
		}
	}
	i := 0
	for _, c := range p.Pod.Spec.Containers {
		for _, cp := range c.Ports {
			if i >= len(e.ports) || e.ports[i] != cp {
				return false
			}
			i++
		}
	}
	return i == len(e.ports)
}

func sameSpec(a, b *api.ServiceSpec) bool {
	return a.Type == b.Type && a.ClusterIP == b.ClusterIP && maps.Equal(a.Selector, b.Selector) && slices.Equal(a.Ports, b.Ports)
}

// update brings the cache to services and pods and returns the ports and
// host ports to generate from. ok is false when names repeat: the cache is
// then unusable, and the caller computes everything afresh (generate
// reports the duplicates).
func (c *endpointCache) update(services []api.Service, pods []Pod) (sps []servicePort, hps []hostPort, skips []skipped, ok bool) {
	c.pass++
	dirty := map[string]bool{}
	hostsDirty := false
	touch := func(labels map[string]string) {
		for k, v := range labels {
			for name := range c.bySel[k+"="+v] {
				dirty[name] = true
			}
		}
	}
	// Pods usually come in the same order as last time: order, which
	// overwrites c.order as it goes, finds their entries without hashing.
	order := c.order[:0]
	for i := range pods {
		p := &pods[i]
		if p.Pod == nil {
			continue
		}
		name := p.Pod.Metadata.Name
		var e *podEntry
		if j := len(order); j < len(c.order) && c.order[j].name == name {
			e = c.order[j]
		} else {
			e = c.pods[name]
		}
		switch {
		case e == nil:
			e = &podEntry{name: name}
			c.pods[name] = e
		case e.pass == c.pass:
			return nil, nil, nil, false
		case e.same(p):
			e.pod, e.pass = *p, c.pass
			order = append(order, e)
			continue
		default:
			c.unindex(e)
			touch(e.labels)
			hostsDirty = hostsDirty || hasHostPort(e.ports)
		}
		e.pass = c.pass
		order = append(order, e)
		e.pod, e.labels, e.hostNw = *p, maps.Clone(p.Pod.Metadata.Labels), p.Pod.Spec.HostNetwork
		e.kv = e.kv[:0]
		for k, v := range e.labels {
			e.kv = append(e.kv, k, v)
		}
		e.ports = e.ports[:0]
		for _, ct := range p.Pod.Spec.Containers {
			e.ports = append(e.ports, ct.Ports...)
		}
		c.index(e)
		touch(e.labels)
		hostsDirty = hostsDirty || hasHostPort(e.ports)
	}
	c.order = order
	if len(c.pods) > len(order) {
		for name, e := range c.pods {
			if e.pass != c.pass {
				c.unindex(e)
				touch(e.labels)
				hostsDirty = hostsDirty || hasHostPort(e.ports)
				delete(c.pods, name)
			}
		}
	}

	namesChanged := false
	for i := range services {
		s := &services[i]
		e := c.services[s.Metadata.Name]
		switch {
		case e != nil && e.pass == c.pass:
			return nil, nil, nil, false
		case e == nil:
			e = &svcEntry{}
			c.services[s.Metadata.Name] = e
			namesChanged = true
		case sameSpec(&e.spec, &s.Spec):
			e.pass = c.pass
			continue
		default:
			c.unselect(s.Metadata.Name, e.spec.Selector)
		}
		e.pass = c.pass
		e.spec = s.Spec
		e.spec.Selector, e.spec.Ports = maps.Clone(s.Spec.Selector), slices.Clone(s.Spec.Ports)
		c.select_(s.Metadata.Name, e.spec.Selector)
		dirty[s.Metadata.Name] = true
	}
	for name, e := range c.services {
		if e.pass != c.pass {
			c.unselect(name, e.spec.Selector)
			delete(c.services, name)
			namesChanged = true
		}
	}
	if namesChanged {
		c.names = slices.Sorted(maps.Keys(c.services))
	}
	for name := range dirty {
		e := c.services[name]
		if e == nil {
			continue
		}
		e.sps, e.skips = portsOf(api.Service{Metadata: api.ObjectMeta{Name: name}, Spec: e.spec}, c.selected)
	}
	for _, name := range c.names {
		e := c.services[name]
		sps = append(sps, e.sps...)
		skips = append(skips, e.skips...)
	}

	if hostsDirty {
		c.hostPorts, c.hostSkips = nil, nil
		for _, name := range slices.Sorted(maps.Keys(c.pods)) {
			hp, sk := hostPortsOf(&c.pods[name].pod)
			c.hostPorts = append(c.hostPorts, hp...)
			c.hostSkips = append(c.hostSkips, sk...)
		}
	}
	return sps, c.hostPorts, append(skips, c.hostSkips...), true
}

func hasHostPort(ports []api.ContainerPort) bool {
	for _, p := range ports {
		if p.HostPort != 0 {
			return true
		}
	}
	return false
}

func (c *endpointCache) index(e *podEntry) {
	if !e.pod.IP.Is4() {
		return // no address yet, or not on the IPv4 bridge
	}
	for k, v := range e.labels {
		kv := k + "=" + v
		if c.byLabel[kv] == nil {
			c.byLabel[kv] = map[string]*podEntry{}
		}
		c.byLabel[kv][e.name] = e
	}
}

func (c *endpointCache) unindex(e *podEntry) {
	for k, v := range e.labels {
		kv := k + "=" + v
		if c.byLabel[kv][e.name] == e {
			delete(c.byLabel[kv], e.name)
			if len(c.byLabel[kv]) == 0 {
				delete(c.byLabel, kv)
			}
		}
	}
}

func (c *endpointCache) select_(name string, sel map[string]string) {
	for k, v := range sel {
		kv := k + "=" + v
		if c.bySel[kv] == nil {
			c.bySel[kv] = map[string]bool{}
		}
		c.bySel[kv][name] = true
	}
}

func (c *endpointCache) unselect(name string, sel map[string]string) {
	for k, v := range sel {
		kv := k + "=" + v
		delete(c.bySel[kv], name)
		if len(c.bySel[kv]) == 0 {
			delete(c.bySel, kv)
		}
	}
}

// selected is podIndex.selected over the cache, in pod name order.
func (c *endpointCache) selected(selector map[string]string) []*Pod {
	var best map[string]*podEntry
	first := true
	for k, v := range selector {
		if m := c.byLabel[k+"="+v]; first || len(m) < len(best) {
			best, first = m, false
		}
	}
	var out []*Pod
	for _, e := range best {
		if matches(selector, e.labels) {
			out = append(out, &e.pod)
		}
	}
	slices.SortFunc(out, func(a, b *Pod) int { return strings.Compare(a.Pod.Metadata.Name, b.Pod.Metadata.Name) })
	return out
}
