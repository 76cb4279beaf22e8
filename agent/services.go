package agent

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/backoff"
	"github.com/outpost-edge/outpost/netrules"
	"github.com/outpost-edge/outpost/store"
)

// Rules programs service routing (netrules implements it).
type Rules interface {
	Sync(ctx context.Context, services []api.Service, pods []netrules.Pod) error
}

// Allocator keeps service cluster IPs stable (the store implements it).
type Allocator interface {
	AllocateClusterIP(ctx context.Context, name string) (netip.Addr, error)
	ReserveClusterIP(ctx context.Context, name string, addr netip.Addr) error
	ReleaseClusterIP(ctx context.Context, name string) error
	ClusterIPs(ctx context.Context) (map[string]netip.Addr, error)
}

// resyncer is what Rules may also offer: a channel that says the rules must
// be programmed again although nothing changed (netrules: another process
// flushed its table, or its full sync period passed).
type resyncer interface {
	Resync() <-chan struct{}
}

// endpointsChanged wakes the service syncer: a pod's IP or readiness moved.
func (a *Agent) endpointsChanged() {
	select {
	case a.servicesWake <- struct{}{}:
	default:
	}
}

// runServices keeps the node's service routing equal to the desired
// services and the pods' IPs and readiness. It syncs on a desired-state
// change or an endpoint change, and retries failures with backoff (a
// failed sync leaves the previous rules in force).
func (a *Agent) runServices(ctx context.Context, watch <-chan struct{}) {
	failures := 0
	var timer <-chan time.Time
	var last []api.Service
	var lastPods []netrules.Pod
	warned := map[string]string{} // service -> the ClusterIPNotAvailable message last recorded
	var resync <-chan struct{}
	if rs, ok := a.rules.(resyncer); ok {
		resync = rs.Resync()
	}
	for {
		force := false
		select {
		case <-ctx.Done():
			return
		case <-watch:
		case <-a.servicesWake:
		case <-timer:
		case <-resync:
			force = true
		}
		timer = nil
		services, err := a.desiredServices(ctx, warned)
		pods := a.endpointPods()
		if err == nil && failures == 0 && !force && reflect.DeepEqual(services, last) && reflect.DeepEqual(pods, lastPods) {
			continue
		}
		if err == nil {
			err = a.rules.Sync(ctx, services, pods)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			retry := backoff.Exponential(time.Second, 30*time.Second, failures)
			a.log.Warn().Err(err).Dur("retry", retry).Msg("programming service rules")
			timer = a.clock.After(retry)
			continue
		}
		failures, last, lastPods = 0, services, pods
	}
}

// desiredServices are the merged services with their cluster IPs
// allocated (or reserved as the spec asks); IPs of services gone are freed.
// A service whose spec names a new clusterIP lets its old one go first. A
// service that cannot have its address is left out with a
// ClusterIPNotAvailable event, recorded once per cause (warned holds the
// last message per service) rather than at every endpoint change.
func (a *Agent) desiredServices(ctx context.Context, warned map[string]string) ([]api.Service, error) {
	merged, err := a.store.Desired(ctx)
	if err != nil {
		return nil, err
	}
	held, err := a.alloc.ClusterIPs(ctx)
	if err != nil {
		return nil, err
	}
	warn := func(name, msg string) {
		if warned[name] != msg {
			warned[name] = msg
			a.rec.warning(ctx, "service/"+name, "ClusterIPNotAvailable", "%s", msg)
		}
	}
	want := map[string]bool{}
	var out []api.Service
	for _, ds := range merged.Services {
		svc := ds.Service
		name := svc.Metadata.Name
		want[name] = true
		if svc.Spec.ClusterIP != "" {
			addr, _ := netip.ParseAddr(svc.Spec.ClusterIP)
			if cur, ok := held[name]; ok && cur != addr {
				if err := a.alloc.ReleaseClusterIP(ctx, name); err != nil {
					return nil, err
				}
			}
			if err := a.alloc.ReserveClusterIP(ctx, name, addr); err != nil {
				warn(name, fmt.Sprintf("clusterIP %s: %v", addr, err))
				continue
			}
		} else {
			addr, err := a.alloc.AllocateClusterIP(ctx, name)
			if err != nil {
				warn(name, err.Error())
				continue
			}
			svc.Spec.ClusterIP = addr.String()
		}
		delete(warned, name)
		out = append(out, svc)
	}
	for name := range held {
		if !want[name] {
			a.alloc.ReleaseClusterIP(ctx, name)
			delete(warned, name)
		}
	}
	return out, nil
}

// endpointPods are the admitted pods with their IP and readiness, as the
// status manager last saw them.
func (a *Agent) endpointPods() []netrules.Pod {
	a.mu.Lock()
	admitted := make(map[string]*api.Pod, len(a.admitted))
	for uid, p := range a.admitted {
		admitted[uid] = p
	}
	a.mu.Unlock()
	var out []netrules.Pod
	for uid, p := range admitted {
		st, ok := a.status.get(uid)
		if !ok || st.PodIP == "" {
			continue
		}
		ip, err := netip.ParseAddr(st.PodIP)
		if err != nil {
			continue
		}
		out = append(out, netrules.Pod{Pod: p, IP: ip, Ready: podReady(st)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pod.Metadata.Name < out[j].Pod.Metadata.Name })
	return out
}

func podReady(st api.PodStatus) bool {
	for _, c := range st.Conditions {
		if c.Type == api.PodReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

var _ Allocator = (*store.Store)(nil)
