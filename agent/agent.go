package agent

import (
	"context"
	"fmt"
	goruntime "runtime"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/clock"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
	"github.com/outpost-edge/outpost/store"
)

// AdmitFunc decides whether a pod fits the node next to the pods already
// admitted; a rejection carries a kubelet-style reason (OutOfmemory...).
type AdmitFunc func(pod *api.Pod, admitted []*api.Pod) (ok bool, reason, message string)

// Options configure an Agent.
type Options struct {
	Store   Store
	Runtime Runtime
	Logger  zerolog.Logger
	Clock   clock.Clock // default: the real clock
	Backoff Backoff     // default: DefaultBackoff
	Admit   AdmitFunc
	// DefaultGrace stops containers of pods whose spec is unknown (found
	// running at start but no longer desired). Default 30 s.
	DefaultGrace time.Duration
	// KeepLogs keeps a removed pod's logs (the caller prunes them after
	// its retention) instead of deleting them with the pod.
	KeepLogs bool
	// Rules and Allocator route services to ready pods; nil Rules leaves
	// services unrouted.
	Rules     Rules
	Allocator Allocator
}

// Agent reconciles the store's desired pods with the runtime.
type Agent struct {
	store        Store
	rt           Runtime
	log          zerolog.Logger
	clock        clock.Clock
	backoff      Backoff
	admitFn      AdmitFunc
	defaultGrace time.Duration
	keepLogs     bool
	rules        Rules
	alloc        Allocator
	servicesWake chan struct{}
	starts       chan struct{} // bounds container starts in flight
	rec          *recorder
	status       *statusManager

	mu        sync.Mutex
	workers   map[string]*podWorker // by pod uid
	byID      map[string]*podWorker // container id -> its pod's worker
	conflicts map[string]bool
	admitted  map[string]*api.Pod         // by uid: pods that passed admission
	early     map[string]runtimeapi.Event // exits of containers no worker claimed yet
	// held are the containers of pods the store reclaimed after it was lost
	// (store.Merged.Reclaimed), by pod uid: left running, untouched, until
	// their source sends its document. Owned by Run's goroutine.
	held      map[string][]runtimeapi.Observed
	wg        sync.WaitGroup
	ready     chan struct{}
	readyOnce sync.Once
	pings     chan struct{} // unbuffered, received by Run's loop: see Ping
}

// New returns an Agent; Run starts it.
func New(opts Options) *Agent {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Backoff == (Backoff{}) {
		opts.Backoff = DefaultBackoff
	}
	if opts.DefaultGrace == 0 {
		opts.DefaultGrace = api.DefaultTerminationGracePeriodSeconds * time.Second
	}
	log := opts.Logger.With().Str("component", "agent").Logger()
	a := &Agent{
		store: opts.Store, rt: opts.Runtime, log: log, clock: opts.Clock, backoff: opts.Backoff,
		admitFn: opts.Admit, defaultGrace: opts.DefaultGrace, keepLogs: opts.KeepLogs,
		rules: opts.Rules, alloc: opts.Allocator, servicesWake: make(chan struct{}, 1),
		starts:  make(chan struct{}, max(2, 2*goruntime.NumCPU())),
		rec:     &recorder{store: opts.Store, log: log, clock: opts.Clock},
		status:  newStatusManager(opts.Store, log, opts.Clock),
		workers: map[string]*podWorker{}, byID: map[string]*podWorker{}, conflicts: map[string]bool{}, admitted: map[string]*api.Pod{}, early: map[string]runtimeapi.Event{},
		held:  map[string][]runtimeapi.Observed{},
		ready: make(chan struct{}), pings: make(chan struct{}),
	}
	a.status.onEndpoints = a.endpointsChanged
	return a
}

// Ready is closed once the agent has adopted what runs and started a worker
// for every desired pod.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Run reconciles until ctx is done. It leaves every container running when
// it returns: stopping the agent (an upgrade, a crash) never stops workloads.
func (a *Agent) Run(ctx context.Context) error {
	statusCtx, stopStatus := context.WithCancel(context.WithoutCancel(ctx))
	statusDone := make(chan struct{})
	go func() { a.status.run(statusCtx); close(statusDone) }()
	defer func() { stopStatus(); <-statusDone }()

	watch := a.store.Watch(ctx)
	events := a.rt.Events(ctx)
	if a.rules != nil && a.alloc != nil {
		svcWatch := a.store.Watch(ctx)
		a.endpointsChanged() // a first sync at start
		go a.runServices(ctx, svcWatch)
	}
	observed, err := a.rt.List(ctx)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	byUID := groupByUID(observed)
	if err := a.removeOrphanSandboxes(ctx, byUID); err != nil {
		a.log.Warn().Err(err).Msg("removing orphaned sandboxes")
	}
	a.reconcile(ctx, byUID)
	a.dropStaleStatuses(ctx)
	a.readyOnce.Do(func() { close(a.ready) })
	resubscribe := (<-chan time.Time)(nil)
	for {
		select {
		case <-ctx.Done():
			a.wg.Wait()
			return nil
		case <-watch:
			a.reconcile(ctx, nil)
		case <-a.pings:
		case ev, ok := <-events:
			if !ok {
				events = nil
				resubscribe = a.clock.After(time.Second)
				continue
			}
			a.dispatch(ev)
		case <-resubscribe:
			// The event stream broke (containerd restarted): subscribe
			// again and replay what ended meanwhile from a fresh list.
			resubscribe = nil
			events = a.rt.Events(ctx)
			a.replayExits(ctx)
		}
	}
}

// Ping returns once Run's loop has come round to answer it, or ctx's error:
// a loop stuck in a reconcile (or not running) does not answer, which the
// caller (systemd's watchdog) takes as a wedged agent.
func (a *Agent) Ping(ctx context.Context) error {
	select {
	case a.pings <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("agent loop: %w", ctx.Err())
	}
}

func groupByUID(obs []runtimeapi.Observed) map[string][]runtimeapi.Observed {
	m := map[string][]runtimeapi.Observed{}
	for _, o := range obs {
		m[o.Ref.UID] = append(m[o.Ref.UID], o)
	}
	return m
}

// reconcile diffs the desired pods against the workers: new pods get a
// worker (adopting what already runs for them), changed ones an update,
// vanished ones are stopped. observed is set on the first pass only.
func (a *Agent) reconcile(ctx context.Context, observed map[string][]runtimeapi.Observed) {
	merged, err := a.store.Desired(ctx)
	if err != nil {
		a.log.Error().Err(err).Msg("reading desired state")
		return
	}
	for _, c := range merged.Conflicts {
		key := fmt.Sprintf("%s/%s/%s", c.Kind, c.Name, c.Loser)
		if !a.conflicts[key] {
			a.conflicts[key] = true
			a.rec.warning(ctx, c.Kind+"/"+c.Name, ReasonNameConflict, "%s %q from %s is ignored: %s has one of that name", c.Kind, c.Name, c.Loser, c.Winner)
		}
	}
	observed = a.releaseHeld(ctx, merged, observed)
	held := map[string]bool{}
	for _, r := range merged.Reclaimed {
		held[r.UID] = true
	}
	want := map[string]bool{}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, dp := range merged.Pods {
		want[dp.UID] = true
		w, ok := a.workers[dp.UID]
		if !ok {
			w = newPodWorker(a, dp.UID, observed[dp.UID])
			a.startWorker(ctx, w, observed[dp.UID])
		}
		w.update(dp)
	}
	for uid, w := range a.workers {
		if !want[uid] {
			w.stop()
		}
	}
	for uid, obs := range observed {
		switch {
		case want[uid]:
		case held[uid]:
			a.held[uid] = obs
		default:
			// Running but no longer desired (removed while the agent was down,
			// or its source's document came back without it).
			w := newPodWorker(a, uid, obs)
			a.startWorker(ctx, w, obs)
			w.stop()
		}
	}
}

// releaseHeld hands the held containers of pods now desired, or now known
// to be gone, to this reconcile, as a fresh list sees them (they were left
// alone since the first one). Called from Run's goroutine.
func (a *Agent) releaseHeld(ctx context.Context, merged *store.Merged, observed map[string][]runtimeapi.Observed) map[string][]runtimeapi.Observed {
	if len(a.held) == 0 {
		return observed
	}
	still := map[string]bool{}
	for _, r := range merged.Reclaimed {
		still[r.UID] = true
	}
	release := false
	for uid := range a.held {
		release = release || !still[uid]
	}
	if !release {
		return observed
	}
	list, err := a.rt.List(ctx)
	if err != nil {
		a.log.Warn().Err(err).Msg("listing containers of reclaimed pods")
		return observed
	}
	fresh := groupByUID(list)
	if observed == nil {
		observed = map[string][]runtimeapi.Observed{}
	}
	for uid := range a.held {
		if !still[uid] {
			delete(a.held, uid)
			if obs := fresh[uid]; len(obs) > 0 {
				observed[uid] = obs
			}
		}
	}
	return observed
}

// startWorker runs w and routes the events of its adopted containers to
// it; a.mu is held.
func (a *Agent) startWorker(ctx context.Context, w *podWorker, adopted []runtimeapi.Observed) {
	a.workers[w.uid] = w
	for _, o := range adopted {
		a.byID[o.ID] = w
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		w.run(ctx)
		if w.finished {
			a.mu.Lock()
			if a.workers[w.uid] == w {
				delete(a.workers, w.uid)
			}
			a.mu.Unlock()
		}
	}()
}

// dispatch hands a task event to the worker of the container's pod.
func (a *Agent) dispatch(ev runtimeapi.Event) {
	if ev.Kind != runtimeapi.EventExit {
		return
	}
	a.mu.Lock()
	w := a.byID[ev.ContainerID]
	if w == nil {
		// A container that exits at once can beat its worker's
		// bookkeeping: keep the event until the worker claims the ID.
		a.early[ev.ContainerID] = ev
		if len(a.early) > maxEarlyEvents {
			for id := range a.early {
				delete(a.early, id)
				break
			}
		}
	}
	a.mu.Unlock()
	if w == nil {
		return
	}
	select {
	case w.exits <- ev:
	case <-w.done:
	}
}

// replayExits delivers exits missed while the event stream was down.
func (a *Agent) replayExits(ctx context.Context) {
	obs, err := a.rt.List(ctx)
	if err != nil {
		a.log.Warn().Err(err).Msg("listing containers after the event stream broke")
		return
	}
	for _, o := range obs {
		if o.State == runtimeapi.StateExited || o.State == runtimeapi.StateUnknown {
			a.dispatch(runtimeapi.Event{Kind: runtimeapi.EventExit, ContainerID: o.ID, Exit: o.Exit})
		}
	}
}

// remember routes the events of container id to w, delivering one that
// came before this call. Called from w's goroutine.
func (a *Agent) remember(id string, w *podWorker) {
	a.mu.Lock()
	a.byID[id] = w
	ev, early := a.early[id]
	delete(a.early, id)
	a.mu.Unlock()
	if early {
		select {
		case w.exits <- ev:
		default:
			w.log.Error().Str("container", id).Msg("exit event dropped: worker queue full")
		}
	}
}

// maxEarlyEvents bounds the exits kept for containers no worker claimed yet.
const maxEarlyEvents = 256

func (a *Agent) forget(id string) {
	a.mu.Lock()
	delete(a.byID, id)
	a.mu.Unlock()
}

// admit runs the admission check of pod against the pods already admitted,
// and records it as admitted when it fits. A pod that is only terminating
// (no longer desired, its containers stopping) does not count, as in
// kubelet, which admits against the pods still desired (a deleted pod has
// left its pod manager): counting it refused the pod replacing it, once per
// document of a burst.
func (a *Agent) admit(pod *api.Pod, uid string) (bool, string, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.admitFn != nil {
		var others []*api.Pod
		for id, p := range a.admitted {
			if w := a.workers[id]; id != uid && (w == nil || !w.stopping()) {
				others = append(others, p)
			}
		}
		if ok, reason, msg := a.admitFn(pod, others); !ok {
			delete(a.admitted, uid)
			return false, reason, msg
		}
	}
	a.admitted[uid] = pod
	return true, "", ""
}

// stopping reports whether w was told to stop its pod. a.mu may be held
// (it is taken before w.mu, as reconcile does).
func (w *podWorker) stopping() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.terminate
}

// release forgets a pod's admission (stopped, or to be admitted again).
func (a *Agent) release(uid string) {
	a.mu.Lock()
	delete(a.admitted, uid)
	a.mu.Unlock()
}

// forceAdmit records an adopted pod: it already runs, so it counts.
func (a *Agent) forceAdmit(pod *api.Pod, uid string) {
	a.mu.Lock()
	a.admitted[uid] = pod
	a.mu.Unlock()
}

// dropStaleStatuses deletes stored statuses of pods that have no worker
// (removed while the agent was down): nothing will ever update them.
func (a *Agent) dropStaleStatuses(ctx context.Context) {
	sts, err := a.store.PodStatuses(ctx)
	if err != nil {
		a.log.Warn().Err(err).Msg("reading stored pod statuses")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, st := range sts {
		if _, ok := a.workers[st.UID]; !ok {
			a.status.remove(st)
		}
	}
}

// acquireStart waits for a container start slot. Starting every pod of a
// cold boot at once makes 20 shims, runc and containerd's single metadata
// writer fight over two cores; a few at a time finish sooner, first pods
// first.
func (a *Agent) acquireStart(ctx context.Context) (release func(), err error) {
	select {
	case a.starts <- struct{}{}:
		return func() { <-a.starts }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
