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
// with grace and removed, its sandbox is torn down as a deleted pod's is
// (network, IP, emptyDir volumes), it is reported Failed with reason
// Evicted, and it is admitted again after a while, in a fresh sandbox.
//
// Its logs are kept (with Options.KeepLogs, until the retention prunes
// them) as a deleted pod's are, unless the node was short of disk: then
// keeping them could leave the pressure in place, so they go too.
//
// resource is what the node was short of (api.ResourceMemory,
// api.ResourceEphemeralStorage, "pids"); message says so for the pod's
// status and event.
func (a *Agent) Evict(uid, resource, message string, grace time.Duration) {
	a.mu.Lock()
	w := a.workers[uid]
	a.mu.Unlock()
	if w == nil {
		return
	}
	w.mu.Lock()
	w.evict = &eviction{message: message, grace: grace, disk: resource == api.ResourceEphemeralStorage}
	w.mu.Unlock()
	w.poke()
}

type eviction struct {
	message string
	grace   time.Duration
	disk    bool // the node was short of disk: the pod's logs go too
}

// evictPod runs in the worker goroutine.
func (w *podWorker) evictPod(ctx context.Context, ev *eviction) {
	if w.pod == nil || w.rejected != nil {
		return
	}
	w.a.rec.warning(ctx, w.object(), ReasonEvicted, "%s", ev.message)
	for _, st := range w.ctrs {
		st.evicted = st.running
	}
	w.killAll(ctx, ev.grace)
	w.removeContainers(ctx)
	for _, st := range w.ctrs {
		st.id, st.running, st.stale = "", false, nil
	}
	keepLogs := w.a.keepLogs && !ev.disk
	if err := w.a.rt.RemovePod(ctx, w.uid, keepLogs); err != nil {
		w.log.Warn().Err(err).Msg("removing the evicted pod's sandbox")
	}
	w.sandbox = nil
	w.rejected = &rejection{reason: ReasonEvicted, message: ev.message}
	w.readmitAt = w.a.clock.Now().Add(readmitAfter)
	w.a.release(w.uid)
}

// readmit prepares a pod that was rejected or evicted for admission again.
// After an eviction its sandbox is a new one: the containers the eviction
// stopped, and those their restart policy restarts, start again as their
// next attempt (a restart, its last state how it ended, as kubelet counts a
// sandbox change), and with them the init containers, since the emptyDirs
// they filled are gone. Containers that had ended for good stay so.
func (w *podWorker) readmit() {
	w.rejected, w.readmitAt, w.startTime = nil, time.Time{}, time.Time{}
	rerun := func(st *ctrState) bool {
		return st.evicted || (st.exit != nil && !st.init && w.shouldRestart(st.exit.Code))
	}
	initToo := false
	for _, st := range w.ctrs {
		initToo = initToo || (!st.init && rerun(st))
	}
	for _, st := range w.ctrs {
		if !rerun(st) && !(st.init && initToo && st.exit != nil) {
			continue
		}
		if st.exit != nil {
			st.lastTerm = terminated(st.exit, st.startedAt)
		}
		st.restarts++
		st.attempt = st.restarts
		st.exit, st.evicted = nil, false
		st.backoff, st.notBefore, st.waitingBackoff = backoffState{}, time.Time{}, false
		st.ready, st.started = false, false
	}
}
