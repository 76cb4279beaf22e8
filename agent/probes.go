package agent

import (
	"context"

	"github.com/outpost-edge/outpost/api"
)

// probeResult is a probe's verdict on one container, delivered to its pod's
// worker.
type probeResult struct {
	containerID string
	kind        string // "readiness", "liveness", "startup"
	success     bool
	message     string
}

// startProbes starts the container's probe loops under a context the
// worker cancels when the container stops. Without a readiness probe a
// running container is ready; without a startup probe it has started.
func (w *podWorker) startProbes(ctx context.Context, c *api.Container, st *ctrState) {
	st.ready = c.ReadinessProbe == nil
	st.started = c.StartupProbe == nil
	if w.a.probes == nil || (c.ReadinessProbe == nil && c.LivenessProbe == nil && c.StartupProbe == nil) {
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	st.probeCancel = cancel
	w.a.probes.start(pctx, w, c, st.id)
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

// handleProbe applies a probe result: readiness flips the container's
// ready flag; a failed liveness or startup probe kills the container, which
// is then restarted as its restart policy says.
func (w *podWorker) handleProbe(ctx context.Context, r probeResult) {
	for _, st := range w.ctrs {
		if st.id != r.containerID || !st.running {
			continue
		}
		switch r.kind {
		case "readiness":
			st.ready = r.success
		case "startup":
			if r.success {
				st.started = true
				return
			}
			fallthrough
		case "liveness":
			if r.success {
				return
			}
			w.a.rec.warning(ctx, w.object(), ReasonUnhealthy, "%s probe failed for container %s: %s", r.kind, st.name, r.message)
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
		}
		return
	}
}

// probeStarter starts probe loops for a container; the prober package
// implements it.
type probeStarter interface {
	start(ctx context.Context, w *podWorker, c *api.Container, containerID string)
}
