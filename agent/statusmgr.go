package agent

import (
	"context"
	"reflect"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/clock"
	"github.com/outpost-edge/outpost/store"
)

// statusManager is the single writer of pod status to the store. Workers
// hand it their latest status; it writes what changed, coalescing bursts
// (kubelet's status manager does the same).
type statusManager struct {
	store Store
	log   zerolog.Logger
	clock clock.Clock

	mu      sync.Mutex
	latest  map[string]api.PodStatus // by uid
	written map[string]api.PodStatus
	deleted map[string]api.PodStatus // pods gone: delete their status
	wake    chan struct{}
	// onEndpoints is called when a pod's IP or readiness changes.
	onEndpoints func()
}

// statusRetry is how long a failed write waits before it is tried again
// (kubelet's status manager resyncs every 10 s too).
const statusRetry = 10 * time.Second

func newStatusManager(st Store, log zerolog.Logger, clk clock.Clock) *statusManager {
	return &statusManager{store: st, log: log, clock: clk, latest: map[string]api.PodStatus{},
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

// run writes statuses until ctx is done, then once more. A write that
// fails (a full disk, a store error) is tried again every statusRetry
// until it succeeds, whether or not anything changes meanwhile.
func (m *statusManager) run(ctx context.Context) {
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			m.flush(context.WithoutCancel(ctx))
			return
		case <-m.wake:
		case <-retry:
		}
		retry = nil
		if !m.flush(ctx) {
			retry = m.clock.After(statusRetry)
		}
	}
}

// flush writes what changed and reports whether all of it was written.
func (m *statusManager) flush(ctx context.Context) bool {
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
	ok := true
	// Deletes first: a pod replaced under the same name (new uid) keeps the
	// status its new incarnation writes. A failed delete is kept for the
	// retry: a pod gone must not stay listed forever.
	for uid, st := range del {
		if !live[st.Source+"/"+st.Name] {
			if err := m.store.DeletePodStatus(ctx, store.Source(st.Source), st.Name); err != nil {
				m.log.Error().Err(err).Str("pod", st.Name).Msg("deleting pod status")
				ok = false
				m.mu.Lock()
				if _, again := m.deleted[uid]; !again {
					m.deleted[uid] = st
				}
				m.mu.Unlock()
				continue
			}
		}
		m.mu.Lock()
		delete(m.written, uid)
		m.mu.Unlock()
	}
	if len(put) == 0 {
		return ok
	}
	// One transaction for the burst (20 pods starting at boot write their
	// statuses together: one fsync, not twenty).
	if err := m.store.PutPodStatuses(ctx, put); err != nil {
		m.log.Error().Err(err).Int("pods", len(put)).Msg("writing pod statuses")
		return false
	}
	m.mu.Lock()
	for _, st := range put {
		m.written[st.UID] = st
	}
	m.mu.Unlock()
	return ok
}
