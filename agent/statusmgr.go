package agent

import (
	"context"
	"reflect"
	"sync"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
)

// statusManager is the single writer of pod status to the store. Workers
// hand it their latest status; it writes what changed, coalescing bursts
// (kubelet's status manager does the same).
type statusManager struct {
	store Store
	log   zerolog.Logger

	mu      sync.Mutex
	latest  map[string]api.PodStatus // by uid
	written map[string]api.PodStatus
	deleted map[string]api.PodStatus // pods gone: delete their status
	wake    chan struct{}
	// onEndpoints is called when a pod's IP or readiness changes.
	onEndpoints func()
}

func newStatusManager(st Store, log zerolog.Logger) *statusManager {
	return &statusManager{store: st, log: log, latest: map[string]api.PodStatus{},
		written: map[string]api.PodStatus{}, deleted: map[string]api.PodStatus{}, wake: make(chan struct{}, 1)}
}

// set records a pod's latest status.
func (m *statusManager) set(st api.PodStatus) {
	m.mu.Lock()
	prev, had := m.latest[st.UID]
	m.latest[st.UID] = st
	m.mu.Unlock()
	m.poke()
	if m.onEndpoints != nil && (!had || prev.PodIP != st.PodIP || podReady(prev) != podReady(st)) {
		m.onEndpoints()
	}
}

// remove forgets a pod and deletes its status from the store.
func (m *statusManager) remove(st api.PodStatus) {
	m.mu.Lock()
	delete(m.latest, st.UID)
	m.deleted[st.UID] = st
	m.mu.Unlock()
	m.poke()
	if m.onEndpoints != nil {
		m.onEndpoints()
	}
}

func (m *statusManager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// get returns the latest status of a pod.
func (m *statusManager) get(uid string) (api.PodStatus, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.latest[uid]
	return st, ok
}

// run writes statuses until ctx is done, then once more.
func (m *statusManager) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			m.flush(context.WithoutCancel(ctx))
			return
		case <-m.wake:
			m.flush(ctx)
		}
	}
}

func (m *statusManager) flush(ctx context.Context) {
	m.mu.Lock()
	del := m.deleted
	m.deleted = map[string]api.PodStatus{}
	var put []api.PodStatus
	live := map[string]bool{} // source/name of pods that still have a status
	for uid, st := range m.latest {
		live[st.Source+"/"+st.Name] = true
		if w, ok := m.written[uid]; !ok || !reflect.DeepEqual(w, st) {
			put = append(put, st)
		}
	}
	m.mu.Unlock()
	// Deletes first: a pod replaced under the same name (new uid) keeps the
	// status its new incarnation writes.
	for uid, st := range del {
		if !live[st.Source+"/"+st.Name] {
			if err := m.store.DeletePodStatus(ctx, store.Source(st.Source), st.Name); err != nil {
				m.log.Error().Err(err).Str("pod", st.Name).Msg("deleting pod status")
			}
		}
		m.mu.Lock()
		delete(m.written, uid)
		m.mu.Unlock()
	}
	if len(put) == 0 {
		return
	}
	// One transaction for the burst (20 pods starting at boot write their
	// statuses together: one fsync, not twenty).
	if err := m.store.PutPodStatuses(ctx, put); err != nil {
		m.log.Error().Err(err).Int("pods", len(put)).Msg("writing pod statuses")
		return
	}
	m.mu.Lock()
	for _, st := range put {
		m.written[st.UID] = st
	}
	m.mu.Unlock()
}
