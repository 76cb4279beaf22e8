package agent

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
	"github.com/outpost-edge/outpost/store"
)

// podWorker owns one pod: one goroutine, woken by a new desired spec, a task
// event of one of its containers, a probe result or its own timer. Updates
// collapse: the worker always acts on the latest spec.
type podWorker struct {
	a   *Agent
	uid string
	log zerolog.Logger

	mu        sync.Mutex
	pending   *store.DesiredPod // latest desired spec, consumed by sync
	terminate bool
	// cancelWork cancels the waits of the sync under way (an image pull,
	// the sandbox's network, a start slot) when the pod is deleted or its
	// spec changes: workHash is the spec hash that sync works on.
	cancelWork context.CancelFunc
	workHash   string
	wake       chan struct{}
	exits      chan runtimeapi.Event
	probes     chan probeResult
	done       chan struct{}

	// Owned by the worker goroutine.
	pod       *api.Pod
	ref       runtimeapi.PodRef
	hash      string
	sandbox   *runtimeapi.Sandbox
	rejected  *rejection
	ctrs      map[string]*ctrState
	startTime time.Time
	conds     map[string]api.PodCondition
	retryAt   time.Time // sandbox or start errors retry then
	finished  bool
	adopted   bool      // containers found running at start: admit without question
	evict     *eviction // set by Agent.Evict, consumed by sync
	readmitAt time.Time // an evicted or rejected pod tries admission again then
}

type rejection struct{ reason, message string }

func newPodWorker(a *Agent, uid string, adopted []runtimeapi.Observed) *podWorker {
	w := &podWorker{
		a: a, uid: uid, log: a.log.With().Str("uid", uid).Logger(),
		wake: make(chan struct{}, 1), exits: make(chan runtimeapi.Event, 16), probes: make(chan probeResult, 16),
		done: make(chan struct{}), ctrs: map[string]*ctrState{}, conds: map[string]api.PodCondition{},
	}
	w.adopt(adopted)
	return w
}

// update hands the worker the latest desired spec.
// A changed spec cancels what the worker waits for under the old one.
func (w *podWorker) update(dp store.DesiredPod) {
	w.mu.Lock()
	w.pending = &dp
	if w.cancelWork != nil && api.SpecHash(&dp.Pod) != w.workHash {
		w.cancelWork()
	}
	w.mu.Unlock()
	w.poke()
}

// stop asks the worker to stop the pod with its grace period and remove it.
// It cancels what the worker waits for.
func (w *podWorker) stop() {
	w.mu.Lock()
	w.terminate = true
	if w.cancelWork != nil {
		w.cancelWork()
	}
	w.mu.Unlock()
	w.poke()
}

// workContext is ctx, cancelled by stop or by an update with another spec
// (see cancelWork); done releases it. Stopping and removing containers
// never run under it: a cancelled stop would leave them behind.
func (w *podWorker) workContext(ctx context.Context) (work context.Context, done func()) {
	work, cancel := context.WithCancel(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.terminate || w.pending != nil && api.SpecHash(&w.pending.Pod) != w.hash {
		cancel() // came in while this sync began
	}
	w.cancelWork, w.workHash = cancel, w.hash
	return work, func() {
		w.mu.Lock()
		w.cancelWork = nil
		w.mu.Unlock()
		cancel()
	}
}

func (w *podWorker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run is the worker's goroutine. It returns when the pod is removed, or
// when ctx ends (agent shutdown), leaving the containers running.
func (w *podWorker) run(ctx context.Context) {
	defer close(w.done)
	for {
		w.sync(ctx)
		if w.finished || ctx.Err() != nil {
			w.stopProbes()
			return
		}
		var timer <-chan time.Time
		if at := w.nextWake(); !at.IsZero() {
			timer = w.a.clock.After(max(at.Sub(w.a.clock.Now()), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			w.stopProbes()
			return
		case <-w.wake:
		case ev := <-w.exits:
			w.handleExit(ctx, ev)
		case r := <-w.probes:
			w.handleProbe(ctx, r)
		case <-timer:
		}
	}
}

// nextWake is the earliest time something must be retried.
func (w *podWorker) nextWake() time.Time {
	at := w.retryAt
	if !w.readmitAt.IsZero() && (at.IsZero() || w.readmitAt.Before(at)) {
		at = w.readmitAt
	}
	for _, c := range w.ctrs {
		if !c.notBefore.IsZero() && c.waitingBackoff && (at.IsZero() || c.notBefore.Before(at)) {
			at = c.notBefore
		}
	}
	return at
}

// sync moves the pod one step towards its desired state.
func (w *podWorker) sync(ctx context.Context) {
	w.mu.Lock()
	pending, terminate, evict := w.pending, w.terminate, w.evict
	w.pending, w.evict = nil, nil
	w.mu.Unlock()
	if terminate {
		w.terminatePod(ctx)
		return
	}
	if pending != nil {
		w.setSpec(ctx, pending)
	}
	if w.pod == nil || ctx.Err() != nil {
		return
	}
	defer w.publish()
	if evict != nil {
		w.evictPod(ctx, evict)
	}
	if w.rejected != nil {
		if w.readmitAt.IsZero() || w.a.clock.Now().Before(w.readmitAt) {
			return
		}
		w.readmit()
	}
	if w.startTime.IsZero() {
		if w.adopted {
			w.a.forceAdmit(w.pod, w.uid)
		} else if ok, reason, msg := w.a.admit(w.pod, w.uid); !ok {
			w.rejected = &rejection{reason: reason, message: msg}
			w.readmitAt = w.a.clock.Now().Add(readmitAfter)
			w.a.rec.warning(ctx, w.object(), ReasonFailedAdmission, "%s", msg)
			return
		}
		w.startTime = w.a.clock.Now()
		if w.adopted {
			// A restarted agent takes over a running pod: it started when
			// the previous agent said it did, not now.
			if t := w.a.storedStartTime(ctx, w.uid); !t.IsZero() {
				w.startTime = t
			}
		}
	}
	if !w.retryAt.IsZero() && w.a.clock.Now().Before(w.retryAt) {
		return
	}
	w.retryAt = time.Time{}
	// From here on the sync may wait long (a pull over a slow link): a
	// delete or a spec change must not wait for it.
	work, done := w.workContext(ctx)
	defer done()
	if w.sandbox == nil {
		sb, err := w.a.rt.EnsureSandbox(work, w.pod, w.ref)
		if err == nil && w.hasRunning() {
			// Adopted containers start nothing, which would wait for the
			// network; wait here so the status carries the pod's IP.
			_, err = sb.WaitNetwork(work)
		}
		if work.Err() != nil {
			return // deleted or changed: the next sync says what now
		}
		if err != nil {
			w.a.rec.warning(ctx, w.object(), ReasonSandboxFailed, "%v", err)
			w.retryAt = w.a.clock.Now().Add(5 * time.Second)
			return
		}
		w.sandbox = sb
	}
	w.resumeProbes(ctx)
	if !w.syncInitContainers(ctx, work) {
		return
	}
	for i := range w.pod.Spec.Containers {
		c := &w.pod.Spec.Containers[i]
		st := w.ctr(c.Name, false)
		switch {
		case st.running:
		case st.id == "" && st.restarts == 0 && st.exit == nil:
			w.startContainer(ctx, work, c, st)
		case st.exit != nil && w.shouldRestart(st.exit.Code):
			w.startContainer(ctx, work, c, st)
		case st.id == "" && st.exit == nil:
			w.startContainer(ctx, work, c, st) // a start that failed before
		}
	}
}

// syncInitContainers runs init containers one at a time, in order; it
// reports whether all of them have completed.
func (w *podWorker) syncInitContainers(ctx, work context.Context) bool {
	for i := range w.pod.Spec.InitContainers {
		c := &w.pod.Spec.InitContainers[i]
		st := w.ctr(c.Name, true)
		switch {
		case st.exit != nil && st.exit.Code == 0 && !st.running:
			continue
		case st.running:
			return false
		case st.exit != nil && w.pod.Spec.RestartPolicy == api.RestartNever:
			return false // the pod has failed
		default:
			w.startContainer(ctx, work, c, st)
			return false
		}
	}
	return true
}

func (w *podWorker) shouldRestart(code int32) bool {
	switch w.pod.Spec.RestartPolicy {
	case api.RestartAlways:
		return true
	case api.RestartOnFailure:
		return code != 0
	}
	return false
}

// setSpec takes a new desired spec. A changed spec hash recreates the pod's
// containers (and sandbox); anything else (labels, a re-delivered document)
// changes nothing that runs.
func (w *podWorker) setSpec(ctx context.Context, dp *store.DesiredPod) {
	pod := dp.Pod
	hash := api.SpecHash(&pod)
	w.ref = runtimeapi.PodRef{Source: string(dp.Source), Name: pod.Metadata.Name, UID: dp.UID}
	w.log = w.a.log.With().Str("pod", pod.Metadata.Name).Str("uid", dp.UID).Logger()
	if w.pod != nil && hash != w.hash {
		w.a.rec.normal(ctx, w.object(), ReasonKilling, "pod spec changed: recreating its containers")
		w.killAll(ctx, gracePeriod(w.pod))
		w.removeContainers(ctx)
		// The old spec's logs go too, as a replaced pod's do in Kubernetes:
		// the new containers count their attempts from 0 again, and a kept
		// 6.log of the old spec would be what `outpost logs` shows.
		if err := w.a.rt.RemovePod(ctx, w.uid, false); err != nil {
			w.log.Warn().Err(err).Msg("removing the old sandbox")
		}
		w.sandbox, w.rejected, w.startTime = nil, nil, time.Time{}
		w.ctrs = map[string]*ctrState{}
		w.adopted = false
		w.a.release(w.uid)
	}
	if w.pod == nil && w.hash != "" && hash != w.hash {
		// Adopted containers of an older spec: replace them.
		w.a.rec.normal(ctx, w.object(), ReasonKilling, "pod spec changed while the agent was down: recreating its containers")
		w.pod = &pod
		w.killAll(ctx, gracePeriod(&pod))
		w.removeContainers(ctx)
		if err := w.a.rt.RemovePod(ctx, w.uid, false); err != nil { // as above
			w.log.Warn().Err(err).Msg("removing the old sandbox")
		}
		w.sandbox = nil
		w.ctrs = map[string]*ctrState{}
		w.adopted = false
	}
	w.pod, w.hash = &pod, hash
}

// terminatePod stops every container with the pod's grace period, removes
// them and the sandbox, and forgets the pod's status.
func (w *podWorker) terminatePod(ctx context.Context) {
	grace := w.a.defaultGrace
	if w.pod != nil {
		grace = gracePeriod(w.pod)
	}
	if len(w.ctrs) > 0 {
		w.a.rec.normal(ctx, w.object(), ReasonKilling, "stopping the pod (grace period %v)", grace)
	}
	w.killAll(ctx, grace)
	if ctx.Err() != nil {
		return // the agent is stopping: the next one finishes the job
	}
	w.removeContainers(ctx)
	if err := w.a.rt.RemovePod(ctx, w.uid, w.a.keepLogs); err != nil {
		w.log.Warn().Err(err).Msg("removing the pod's sandbox")
	}
	if w.pod != nil {
		w.a.status.remove(api.PodStatus{Source: w.ref.Source, Name: w.ref.Name, UID: w.uid})
	}
	w.a.release(w.uid)
	w.finished = true
}

// killAll stops the running containers in parallel, each with grace.
func (w *podWorker) killAll(ctx context.Context, grace time.Duration) {
	w.stopProbes()
	var wg sync.WaitGroup
	for _, st := range w.ctrs {
		if st.id == "" || !st.running {
			continue
		}
		wg.Add(1)
		go func(st *ctrState) {
			defer wg.Done()
			exit, err := w.a.rt.StopContainer(ctx, st.id, grace)
			if err != nil {
				w.log.Warn().Err(err).Str("container", st.name).Msg("stopping container")
				return
			}
			st.running, st.exit = false, &exit
		}(st)
	}
	wg.Wait()
}

func (w *podWorker) removeContainers(ctx context.Context) {
	for _, st := range w.ctrs {
		for _, id := range append(st.stale, st.id) {
			if id == "" {
				continue
			}
			if err := w.a.rt.RemoveContainer(ctx, id); err != nil {
				w.log.Warn().Err(err).Str("container", st.name).Msg("removing container")
			}
			w.a.forget(id)
		}
	}
}

func (w *podWorker) object() string {
	if w.pod != nil {
		return "pod/" + w.pod.Metadata.Name
	}
	return "pod/" + w.ref.Name
}

func gracePeriod(p *api.Pod) time.Duration {
	if g := p.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return api.DefaultTerminationGracePeriodSeconds * time.Second
}

func (w *podWorker) hasRunning() bool {
	for _, st := range w.ctrs {
		if st.running {
			return true
		}
	}
	return false
}

// storedStartTime is the start time the store's status of pod uid holds
// (zero when there is none).
func (a *Agent) storedStartTime(ctx context.Context, uid string) time.Time {
	sts, err := a.store.PodStatuses(ctx)
	if err != nil {
		return time.Time{}
	}
	for _, st := range sts {
		if st.UID == uid && st.StartTime != nil {
			return *st.StartTime
		}
	}
	return time.Time{}
}
