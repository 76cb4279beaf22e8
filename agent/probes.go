package agent

import (
	"context"

	"github.com/outpost-edge/outpost/agent/prober"
	"github.com/outpost-edge/outpost/api"
)

// probeResult is a probe's verdict on one container, delivered to its pod's
// worker.
type probeResult struct {
	containerID string
	kind        prober.Kind
	success     bool // the probe's state: ready, alive, started
	restart     bool // a liveness or startup probe has failed for good
	failed      bool // this attempt failed (an Unhealthy event)
	message     string
}

// startProbes starts the container's probe workers under a context the pod
// worker cancels when the container stops. Without a readiness probe a
// running container is ready; without a startup probe it has started.
func (w *podWorker) startProbes(ctx context.Context, c *api.Container, st *ctrState) {
	st.probesDue = false
	st.ready = c.ReadinessProbe == nil
	st.started = c.StartupProbe == nil
	if c.ReadinessProbe == nil && c.LivenessProbe == nil && c.StartupProbe == nil {
		return
	}
	ip, _ := w.sandboxIP()
	if w.pod.Spec.HostNetwork {
		ip = ""
	}
	id := st.id
	workers, err := prober.ContainerWorkers(c, prober.WorkerConfig{
		ContainerID: id, PodIP: ip, Ports: c.Ports, Execer: w.a.rt, StartedAt: st.startedAt,
		Clock: w.a.clock, Logger: w.log.With().Str("container", c.Name).Logger(),
		OnResult: func(r prober.Result) {
			res := probeResult{containerID: id, kind: r.Kind, success: r.Success, restart: r.NeedsRestart(),
				failed: r.Output != "", message: r.Output}
			select {
			case w.probes <- res:
			case <-ctx.Done():
			}
		},
	})
	if err != nil {
		w.a.rec.warning(ctx, w.object(), ReasonUnhealthy, "container %s: probes not started: %v", c.Name, err)
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	st.probeCancel = cancel
	for _, pw := range workers {
		go pw.Run(pctx)
	}
}

// resumeProbes starts the probes of the containers a previous agent
// started and this one adopted, as kubelet probes again after a restart:
// each container is ready at once without a readiness probe, else when its
// probe first passes, and liveness and readiness wait for the startup
// probe. initialDelaySeconds counts from the container's start, so a
// container that has run longer than that is probed at once.
func (w *podWorker) resumeProbes(ctx context.Context) {
	for _, cs := range [][]api.Container{w.pod.Spec.InitContainers, w.pod.Spec.Containers} {
		for i := range cs {
			st, ok := w.ctrs[cs[i].Name]
			if ok && st.running && st.probesDue {
				w.startProbes(ctx, &cs[i], st)
			}
		}
	}
}

func (w *podWorker) stopContainerProbes(st *ctrState) {
	if st.probeCancel != nil {
		st.probeCancel()
		st.probeCancel = nil
	}
}

func (w *podWorker) stopProbes() {
	for _, st := range w.ctrs {
		w.stopContainerProbes(st)
	}
}

// handleProbe applies a probe result: readiness sets the container's ready
// flag; a liveness or startup probe that failed for good kills the
// container, which its restart policy then restarts.
func (w *podWorker) handleProbe(ctx context.Context, r probeResult) {
	for _, st := range w.ctrs {
		if st.id != r.containerID || !st.running {
			continue
		}
		if r.failed {
			w.a.rec.warning(ctx, w.object(), ReasonUnhealthy, "%s probe failed for container %s: %s", r.kind, st.name, r.message)
		}
		switch r.kind {
		case prober.Readiness:
			st.ready = r.success
		case prober.Startup:
			st.started = r.success
		}
		if !r.restart {
			return
		}
		w.a.rec.normal(ctx, w.object(), ReasonKilling, "container %s failed its %s probe and will be restarted", st.name, r.kind)
		w.stopContainerProbes(st)
		exit, err := w.a.rt.StopContainer(ctx, st.id, gracePeriod(w.pod))
		if err != nil {
			w.log.Warn().Err(err).Str("container", st.name).Msg("stopping an unhealthy container")
			return
		}
		if exit.ExitedAt.IsZero() {
			exit.ExitedAt = w.a.clock.Now()
		}
		w.handleExit(ctx, eventOf(st.id, exit))
		return
	}
}
