package agent

import (
	"context"
	"time"

	"github.com/outpost-edge/outpost/api"
)

// ReasonEvicted marks a pod stopped to relieve node pressure.
const ReasonEvicted = "Evicted"

// readmitAfter is how long an evicted pod waits before it is admitted again
// (the pressure may have passed by then; admission decides).
const readmitAfter = 5 * time.Minute

// AdmittedPod is a pod the node has accepted to run.
type AdmittedPod struct {
	UID string
	Pod *api.Pod
}

// Admitted returns the pods that passed admission, for the evictor.
func (a *Agent) Admitted() []AdmittedPod {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]AdmittedPod, 0, len(a.admitted))
	for uid, p := range a.admitted {
		out = append(out, AdmittedPod{UID: uid, Pod: p})
	}
	return out
}

// Evict stops a pod to relieve node pressure: its containers are stopped
// with grace and removed, it is reported Failed with reason Evicted, and it
// is admitted again after a while.
func (a *Agent) Evict(uid, message string, grace time.Duration) {
	a.mu.Lock()
	w := a.workers[uid]
	a.mu.Unlock()
	if w == nil {
		return
	}
	w.mu.Lock()
	w.evict = &eviction{message: message, grace: grace}
	w.mu.Unlock()
	w.poke()
}

type eviction struct {
	message string
	grace   time.Duration
}

// evictPod runs in the worker goroutine.
func (w *podWorker) evictPod(ctx context.Context, ev *eviction) {
	if w.pod == nil || w.rejected != nil {
		return
	}
	w.a.rec.warning(ctx, w.object(), ReasonEvicted, "%s", ev.message)
	w.killAll(ctx, ev.grace)
	w.removeContainers(ctx)
	for _, st := range w.ctrs {
		st.id, st.running = "", false
	}
	w.rejected = &rejection{reason: ReasonEvicted, message: ev.message}
	w.readmitAt = w.a.clock.Now().Add(readmitAfter)
	w.a.release(w.uid)
}
