package localapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/netrules"
	"github.com/outpost-edge/outpost/store"
)

// recentEvents bounds the events a pod's detail carries.
const recentEvents = 50

// podSet is the merged view joined with the stored statuses.
type podSet struct {
	merged *store.Merged
	pods   []PodInfo
}

// podSet joins desired pods with their statuses by (source, name). A status
// whose pod left the desired state is kept: the agent is stopping that pod.
func (s *Server) podSet(ctx context.Context) (*podSet, error) {
	m, err := s.b.Desired(ctx)
	if err != nil {
		return nil, err
	}
	sts, err := s.b.PodStatuses(ctx)
	if err != nil {
		return nil, err
	}
	type key struct{ src, name string }
	byKey := make(map[key]*api.PodStatus, len(sts))
	for i := range sts {
		byKey[key{sts[i].Source, sts[i].Name}] = &sts[i]
	}
	ps := &podSet{merged: m, pods: make([]PodInfo, 0, len(m.Pods))}
	for i := range m.Pods {
		dp := &m.Pods[i]
		k := key{string(dp.Source), dp.Pod.Metadata.Name}
		st := byKey[k]
		// A status of an earlier pod of the same name (another uid) is stale.
		if st != nil && st.UID != "" && dp.UID != "" && st.UID != dp.UID {
			st = nil
		}
		delete(byKey, k)
		ps.pods = append(ps.pods, PodInfo{Source: string(dp.Source), UID: dp.UID, Pod: &dp.Pod, Status: st})
	}
	for _, st := range byKey {
		ps.pods = append(ps.pods, PodInfo{Source: st.Source, UID: st.UID, Status: st})
	}
	slices.SortFunc(ps.pods, func(a, b PodInfo) int {
		if c := strings.Compare(a.Name(), b.Name()); c != 0 {
			return c
		}
		// The desired pod first, then leftovers of its name.
		return strings.Compare(boolKey(a.Pod == nil), boolKey(b.Pod == nil))
	})
	return ps, nil
}

func boolKey(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// find returns the pod called name: the desired one, else one still being
// stopped.
func (ps *podSet) find(name string) (*PodInfo, error) {
	for i := range ps.pods {
		if ps.pods[i].Name() == name {
			return &ps.pods[i], nil
		}
	}
	return nil, fmt.Errorf("%w: pod %q", ErrNotFound, name)
}

func (s *Server) listPods(w http.ResponseWriter, r *http.Request) {
	ps, err := s.podSet(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, PodList{Node: s.opts.NodeName, Items: ps.pods})
}

func (s *Server) getPod(w http.ResponseWriter, r *http.Request) {
	ps, err := s.podSet(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := ps.find(r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	evs, err := s.b.RecentEvents(r.Context(), "pod/"+p.Name(), recentEvents)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, PodDetail{PodInfo: *p, Node: s.opts.NodeName, Events: nonNil(evs)})
}

func (s *Server) listServices(w http.ResponseWriter, r *http.Request) {
	m, err := s.b.Desired(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ips, err := s.b.ClusterIPs(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var counts map[string]EndpointCount
	if s.opts.Rules != nil {
		counts = endpointCounts(s.opts.Rules.Status())
	}
	out := ServiceList{Items: make([]ServiceInfo, 0, len(m.Services))}
	for _, ds := range m.Services {
		svc := ds.Service
		if ip, ok := ips[svc.Metadata.Name]; ok && svc.Spec.ClusterIP == "" {
			svc.Spec.ClusterIP = ip.String()
		}
		info := ServiceInfo{Source: string(ds.Source), Service: svc}
		if c, ok := counts[svc.Metadata.Name]; ok {
			info.Endpoints = &c
		}
		out.Items = append(out.Items, info)
	}
	s.writeJSON(w, http.StatusOK, out)
}

// endpointCounts counts each routed service's ready and total endpoints:
// those of its port that has the most.
func endpointCounts(st netrules.Status) map[string]EndpointCount {
	out := map[string]EndpointCount{}
	for _, svc := range st.Services {
		var c EndpointCount
		for _, p := range svc.Ports {
			c.Ready = max(c.Ready, p.Ready)
			c.Total = max(c.Total, len(p.Endpoints))
		}
		out[svc.Name] = c
	}
	return out
}

func (s *Server) node(ctx context.Context) (NodeView, error) {
	v := NodeView{Name: s.opts.NodeName, AgentStarted: s.opts.Started}
	ns, err := s.b.NodeStatus(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, ErrNotFound):
	case err != nil:
		return v, err
	default:
		v.Status = &ns
		if v.Name == "" {
			v.Name = ns.Name
		}
	}
	return v, nil
}

func (s *Server) getNode(w http.ResponseWriter, r *http.Request) {
	v, err := s.node(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, v)
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	node, err := s.node(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	link, err := s.b.LinkState(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ob, err := s.b.OutboxStats(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ps, err := s.podSet(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := StatusView{
		Node:        node,
		Link:        link,
		Generations: map[string]int64{},
		Outbox:      OutboxView{Depth: ob.Depth, Bytes: ob.Bytes, Dropped: ob.Dropped},
		Pods:        PodCounts{ByPhase: map[string]int{}},
		Services:    len(ps.merged.Services),
	}
	for src, gen := range ps.merged.Generations {
		v.Generations[string(src)] = gen
	}
	for _, p := range ps.pods {
		if p.Pod == nil {
			continue
		}
		v.Pods.Total++
		phase := api.PodPending
		if p.Status != nil && p.Status.Phase != "" {
			phase = p.Status.Phase
		}
		v.Pods.ByPhase[phase]++
		if p.Status != nil && conditionTrue(p.Status.Conditions, api.PodReady) {
			v.Pods.Ready++
		}
	}
	for _, c := range ps.merged.Conflicts {
		v.Conflicts = append(v.Conflicts, ConflictView{Kind: c.Kind, Name: c.Name, Winner: string(c.Winner), Loser: string(c.Loser)})
	}
	s.writeJSON(w, http.StatusOK, v)
}

func conditionTrue(cs []api.PodCondition, typ string) bool {
	for _, c := range cs {
		if c.Type == typ {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.fail(w, r, fmt.Errorf("%w: limit %q: want a number >= 0", ErrInvalid, v))
			return
		}
		limit = n
	}
	evs, err := s.b.RecentEvents(r.Context(), q.Get("object"), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, EventList{Items: nonNil(evs)})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
