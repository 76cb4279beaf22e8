package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/podfiles"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// ctrState is what a worker knows of one container of its pod.
type ctrState struct {
	name string
	init bool

	id        string // the current instance; "" before the first start
	attempt   int    // the current instance's attempt number
	restarts  int
	running   bool
	startedAt time.Time
	exit      *runtimeapi.Exit // how the current instance ended
	lastTerm  *api.ContainerStateTerminated
	stale     []string // older instances still to remove
	evicted   bool     // running when its pod was evicted: starts again on readmission
	numbered  bool     // its attempts are counted: adopted, or its first attempt chosen

	image, imageID string
	ready, started bool // readiness and startup probe results
	probesDue      bool // adopted running: its probes start once the spec is known

	backoff        backoffState
	notBefore      time.Time // no restart before this
	waitingBackoff bool
	waitReason     string
	startErr       bool // the last start failed (waitReason says how), not the container
	waitMessage    string

	probeCancel context.CancelFunc
}

func (w *podWorker) ctr(name string, init bool) *ctrState {
	st, ok := w.ctrs[name]
	if !ok {
		st = &ctrState{name: name, init: init}
		w.ctrs[name] = st
	}
	return st
}

// adopt takes over the containers a previous agent started for this pod:
// the newest attempt of each container is the current one, older ones are
// removed on the next cleanup. The caller routes their events to w.
func (w *podWorker) adopt(obs []runtimeapi.Observed) {
	sort.Slice(obs, func(i, j int) bool { return obs[i].Attempt < obs[j].Attempt })
	for _, o := range obs {
		w.ref = o.Ref
		w.hash = o.SpecHash
		st := w.ctr(o.Container, o.Init)
		if st.id != "" {
			st.stale = append(st.stale, st.id)
		}
		st.id, st.attempt, st.restarts = o.ID, o.Attempt, o.Attempt
		st.numbered = true
		st.startedAt = o.StartedAt
		st.running = o.State == runtimeapi.StateRunning
		st.probesDue = st.running
		st.exit = nil
		switch o.State {
		case runtimeapi.StateExited, runtimeapi.StateUnknown:
			exit := o.Exit
			st.exit = &exit
		case runtimeapi.StateCreated:
			// A container without a task: the node rebooted (or the agent
			// died between create and start). It ended, how is unknown.
			st.exit = &runtimeapi.Exit{Code: 255, Reason: "Unknown", ExitedAt: o.StartedAt}
		}
	}
	if len(obs) > 0 {
		// Admitted by the agent that started it; admission is recorded when
		// the spec arrives (sync) so the node's accounting includes it.
		w.adopted = true
	}
}

// startContainer starts a container's next attempt, unless its crash-loop
// backoff says to wait.
// It waits (a start slot, the image) under work, which a delete or a spec
// change cancels; what outlives the sync (probes) hangs off ctx.
func (w *podWorker) startContainer(ctx, work context.Context, c *api.Container, st *ctrState) {
	now := w.a.clock.Now()
	if now.Before(st.notBefore) {
		st.waitingBackoff = true
		if st.startErr {
			return // a start that failed keeps saying why while it waits
		}
		st.waitReason = "CrashLoopBackOff"
		st.waitMessage = "back-off " + st.notBefore.Sub(now).Round(time.Second).String() + " restarting failed container " + c.Name
		return
	}
	st.waitingBackoff = false
	if !st.numbered && st.id == "" && st.restarts == 0 {
		st.restarts = w.firstAttempt(c.Name)
		st.attempt = st.restarts
	}
	st.numbered = true
	if st.id != "" {
		if st.exit != nil {
			st.lastTerm = terminated(st.exit, st.startedAt)
		}
		st.stale = append(st.stale, st.id)
		st.restarts++
		st.attempt = st.restarts
		st.id = ""
	}
	for _, id := range st.stale {
		if err := w.a.rt.RemoveContainer(ctx, id); err != nil {
			w.log.Warn().Err(err).Str("container", c.Name).Msg("removing the previous instance")
		}
		w.a.forget(id)
	}
	st.stale = nil
	st.exit, st.ready, st.started = nil, false, false
	st.waitReason, st.waitMessage = "ContainerCreating", ""
	w.publish()

	release, err := w.a.acquireStart(work)
	if err != nil {
		return
	}
	started, err := w.a.rt.StartContainer(work, runtimeapi.StartRequest{
		Pod: w.pod, Ref: w.ref, Sandbox: w.sandbox, Container: c, Init: st.init, Attempt: st.attempt,
	})
	release()
	if err != nil {
		if work.Err() != nil {
			return
		}
		st.waitReason = runtimeapi.WaitingReason(err)
		st.waitMessage, st.startErr = err.Error(), true
		w.a.rec.warning(ctx, w.object(), ReasonFailed, "container %s: %v", c.Name, err)
		st.notBefore = now.Add(w.a.backoff.next(&st.backoff, 0))
		st.waitingBackoff = true
		if !st.notBefore.After(now) {
			st.notBefore = now.Add(time.Second)
		}
		return
	}
	st.id, st.running, st.startErr = started.ID, true, false
	st.startedAt = started.StartedAt
	st.image, st.imageID = started.Image, started.ImageID
	st.waitReason, st.waitMessage = "", ""
	w.a.remember(started.ID, w)
	if started.Pulled {
		w.a.rec.normal(ctx, w.object(), ReasonPulled, "successfully pulled image %q", c.Image)
	} else if st.attempt == 0 {
		w.a.rec.normal(ctx, w.object(), ReasonPulled, "container image %q already present on the node", c.Image)
	}
	w.a.rec.normal(ctx, w.object(), ReasonCreated, "created container %s (%s)", c.Name, started.ID)
	w.a.rec.normal(ctx, w.object(), ReasonStarted, "started container %s (attempt %d)", c.Name, st.attempt)
	w.startProbes(ctx, c, st)
}

// firstAttempt is the attempt a container that this pod has no instance
// of starts at: 0, or the one after the last whose log is in the pod's
// directory. Such logs are there when the pod ran before with the same uid
// and its containers went while its logs were kept (a drain; containerd
// losing its state), and the new attempts continue after them, as kubelet
// counts the restarts of a container it has no status of from its log
// directory: a new attempt 0 would append to a kept 0.log and hide behind
// a kept 6.log in `outpost logs`, and the old ones would never be pruned.
// The restart count follows the attempt, as it does after a reboot.
func (w *podWorker) firstAttempt(container string) int {
	if w.sandbox == nil || w.sandbox.Dir == "" {
		return 0
	}
	dir := filepath.Dir(podfiles.Dir(w.sandbox.Dir).ContainerLog(container, 0))
	ents, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			w.log.Warn().Err(err).Str("container", container).Msg("listing the logs of earlier attempts")
		}
		return 0
	}
	next := 0
	for _, e := range ents {
		if n, ok := podfiles.LogAttempt(e.Name()); ok {
			next = max(next, n+1)
		}
	}
	return next
}

// handleExit records a container's exit and schedules its restart.
func (w *podWorker) handleExit(ctx context.Context, ev runtimeapi.Event) {
	for _, st := range w.ctrs {
		if st.id != ev.ContainerID || !st.running {
			continue
		}
		exit := ev.Exit
		st.running, st.exit, st.ready = false, &exit, false
		w.stopContainerProbes(st)
		if w.pod == nil {
			return
		}
		ran := exit.ExitedAt.Sub(st.startedAt)
		restart := w.shouldRestart(exit.Code) || (st.init && exit.Code != 0 && w.pod.Spec.RestartPolicy != api.RestartNever)
		switch {
		case exit.Reason == runtimeapi.ReasonOOMKilled:
			w.a.rec.warning(ctx, w.object(), ReasonOOMKilling, "container %s was killed: out of memory", st.name)
		case exit.Code != 0:
			w.a.rec.warning(ctx, w.object(), ReasonFailed, "container %s exited with code %d", st.name, exit.Code)
		default:
			w.a.rec.normal(ctx, w.object(), ReasonCompleted, "container %s completed", st.name)
		}
		if restart && !(st.init && exit.Code == 0) {
			wait := w.a.backoff.next(&st.backoff, ran)
			st.notBefore = w.a.clock.Now().Add(wait)
			if wait > 0 {
				st.waitingBackoff = true
				w.a.rec.warning(ctx, w.object(), ReasonBackOff, "back-off %v restarting failed container %s", wait, st.name)
			}
		}
		return
	}
}

// terminated turns an exit into Kubernetes' terminated state.
func terminated(e *runtimeapi.Exit, startedAt time.Time) *api.ContainerStateTerminated {
	return &api.ContainerStateTerminated{ExitCode: e.Code, Reason: e.Reason, StartedAt: startedAt, FinishedAt: e.ExitedAt}
}
