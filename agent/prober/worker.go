package prober

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/clock"
)

// Kind is what a probe decides about its container.
type Kind int

const (
	Startup Kind = iota + 1
	Liveness
	Readiness
)

func (k Kind) String() string {
	switch k {
	case Startup:
		return "startup"
	case Liveness:
		return "liveness"
	case Readiness:
		return "readiness"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Initial is a probe's state before its first result, as in kubelet: a
// container is alive but neither started nor ready.
func (k Kind) Initial() bool { return k == Liveness }

// Result is what a Worker reports. It reports when the probe's state
// changes (Changed) and after every failed attempt (Output set), and stays
// quiet about successes that change nothing.
type Result struct {
	Kind        Kind
	ContainerID string
	// Success is the probe's state after this attempt: ready, alive, or
	// started, depending on Kind.
	Success bool
	// Changed reports that this attempt crossed a threshold and changed the
	// state. For startup and liveness a change to !Success means the
	// container must be killed (NeedsRestart).
	Changed bool
	// Output is why this attempt failed, fit for an Unhealthy event ("HTTP
	// probe failed with statuscode: 500"); empty when it succeeded.
	Output string
}

// NeedsRestart reports that the container failed its startup or liveness
// probe failureThreshold times in a row and must be killed (and restarted
// per the pod's restartPolicy).
func (r Result) NeedsRestart() bool {
	return r.Changed && !r.Success && (r.Kind == Startup || r.Kind == Liveness)
}

// WorkerConfig configures one Worker.
type WorkerConfig struct {
	Kind  Kind
	Probe *api.Probe
	// ContainerID, PodIP, Ports and Execer are the probe's Target.
	ContainerID string
	PodIP       string
	Ports       []api.ContainerPort
	Execer      Execer
	// StartedAt is when the container started: initialDelaySeconds counts
	// from it. Zero means when Run is called.
	StartedAt time.Time
	// StartupGate, when non-nil, holds the worker back until it is closed.
	// Liveness and readiness workers of a container with a startup probe get
	// the startup worker's Started().
	StartupGate <-chan struct{}
	Clock       clock.Clock    // nil: the wall clock
	Logger      zerolog.Logger // zero value: no logs
	// OnResult is called from the worker's goroutine; it should not block
	// for long, the next attempt waits for it.
	OnResult func(Result)
}

// maxAttemptErrors is how many times in a row an attempt that could not be
// made is retried at once before waiting a period, as kubelet's
// maxProbeRetries.
const maxAttemptErrors = 3

// Worker probes one container with one probe until its context ends.
type Worker struct {
	cfg     WorkerConfig
	target  Target
	clock   clock.Clock
	log     zerolog.Logger
	delay   time.Duration // initialDelaySeconds
	period  time.Duration
	timeout time.Duration
	state   tracker
	started chan struct{}
}

// NewWorker checks cfg and returns a Worker ready to Run.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Kind < Startup || cfg.Kind > Readiness {
		return nil, fmt.Errorf("%w: kind %v", ErrInvalid, cfg.Kind)
	}
	p := cfg.Probe
	if p == nil || (p.Exec == nil && p.HTTPGet == nil && p.TCPSocket == nil) {
		return nil, fmt.Errorf("%w: %v probe without a handler", ErrInvalid, cfg.Kind)
	}
	if cfg.OnResult == nil {
		return nil, fmt.Errorf("%w: no OnResult", ErrInvalid)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	w := &Worker{
		cfg:     cfg,
		target:  Target{ContainerID: cfg.ContainerID, PodIP: cfg.PodIP, Ports: cfg.Ports, Execer: cfg.Execer},
		clock:   cfg.Clock,
		log:     cfg.Logger.With().Str("component", "prober").Str("container", cfg.ContainerID).Stringer("probe", cfg.Kind).Logger(),
		delay:   seconds(p.InitialDelaySeconds, 0),
		period:  seconds(p.PeriodSeconds, api.DefaultProbePeriodSeconds),
		timeout: seconds(p.TimeoutSeconds, api.DefaultProbeTimeoutSeconds),
		started: make(chan struct{}),
	}
	w.state = newTracker(cfg.Kind, p)
	return w, nil
}

// ContainerWorkers returns a worker for each probe c has, wired so that
// liveness and readiness wait for the startup probe to succeed. base gives
// everything but Kind, Probe, Ports and StartupGate.
func ContainerWorkers(c *api.Container, base WorkerConfig) ([]*Worker, error) {
	var workers []*Worker
	var gate <-chan struct{}
	for _, kp := range []struct {
		kind  Kind
		probe *api.Probe
	}{{Startup, c.StartupProbe}, {Liveness, c.LivenessProbe}, {Readiness, c.ReadinessProbe}} {
		if kp.probe == nil {
			continue
		}
		cfg := base
		cfg.Kind, cfg.Probe, cfg.Ports, cfg.StartupGate = kp.kind, kp.probe, c.Ports, gate
		w, err := NewWorker(cfg)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", c.Name, err)
		}
		if kp.kind == Startup {
			gate = w.Started()
		}
		workers = append(workers, w)
	}
	return workers, nil
}

// Started is closed when a startup probe succeeds; it is never closed for
// the other kinds.
func (w *Worker) Started() <-chan struct{} { return w.started }

// Run probes until ctx ends; call it once. A startup worker also returns
// once it has succeeded or failed for good, and a liveness worker once it
// has failed for good: kubelet stops probing such a container until it is
// replaced, and a replacement gets new workers. Nothing is reported when
// ctx ends: the owner ended it and knows the container is going away.
func (w *Worker) Run(ctx context.Context) {
	if w.cfg.StartupGate != nil {
		select {
		case <-w.cfg.StartupGate:
		case <-ctx.Done():
			return
		}
	}
	startedAt := w.cfg.StartedAt
	if startedAt.IsZero() {
		startedAt = w.clock.Now()
	}
	if !w.sleepUntil(ctx, startedAt.Add(w.delay)) {
		return
	}
	for {
		// Periods run from the start of one attempt to the start of the
		// next, like kubelet's ticker.
		begin := w.clock.Now()
		if w.probe(ctx) {
			return
		}
		if !w.sleepUntil(ctx, begin.Add(w.period)) {
			return
		}
	}
}

// probe makes one attempt, updates the state and reports; it returns true
// when the worker is done.
func (w *Worker) probe(ctx context.Context) (done bool) {
	var ok bool
	var msg string
	var err error
	for range maxAttemptErrors {
		if ok, msg, err = w.attempt(ctx); err == nil || ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() != nil {
		return true // the container is going away: nothing to report
	}
	if err != nil {
		lvl := zerolog.DebugLevel
		if errors.Is(err, ErrInvalid) {
			lvl = zerolog.WarnLevel // validation should have caught it: never going to work
		}
		w.log.WithLevel(lvl).Err(err).Msg("probe could not run, result ignored")
		return false
	}
	changed := w.state.observe(ok)
	res := Result{Kind: w.cfg.Kind, ContainerID: w.cfg.ContainerID, Success: w.state.success(), Changed: changed}
	if !ok {
		res.Output = msg
		w.log.Debug().Str("output", msg).Msg("probe failed")
	}
	if changed {
		w.log.Info().Bool("success", res.Success).Str("output", msg).Msg("probe state changed")
	}
	if changed || !ok {
		w.cfg.OnResult(res)
	}
	switch {
	case changed && w.cfg.Kind == Startup && res.Success:
		close(w.started)
		return true
	case res.NeedsRestart():
		return true
	}
	return false
}

// attempt runs the probe once under its timeout, which the clock measures.
func (w *Worker) attempt(ctx context.Context) (bool, string, error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	expired := w.clock.After(w.timeout) // before the probe starts, so a fake clock sees it
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-expired:
			cancel(&TimeoutError{Timeout: w.timeout})
		case <-finished:
		}
	}()
	return Run(actx, w.cfg.Probe, w.target)
}

// sleepUntil waits for the clock to reach t and reports false when ctx
// ended first.
func (w *Worker) sleepUntil(ctx context.Context, t time.Time) bool {
	d := t.Sub(w.clock.Now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-w.clock.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

func seconds(v, def int32) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v) * time.Second
}

// result is kubelet's three-valued probe result.
type result int8

const (
	unknown result = iota
	success
	failure
)

// tracker turns attempts into a state: the state becomes success after
// successThreshold consecutive successes and failure after failureThreshold
// consecutive failures, as kubelet's worker counts them.
type tracker struct {
	successThreshold, failureThreshold int
	state                              result
	last                               result // the previous attempt
	run                                int    // consecutive attempts equal to last
}

func newTracker(k Kind, p *api.Probe) tracker {
	t := tracker{
		successThreshold: int(p.SuccessThreshold),
		failureThreshold: int(p.FailureThreshold),
	}
	if t.successThreshold <= 0 {
		t.successThreshold = api.DefaultProbeSuccessThreshold
	}
	if t.failureThreshold <= 0 {
		t.failureThreshold = api.DefaultProbeFailureThreshold
	}
	switch k {
	case Liveness:
		t.state = success
	case Readiness:
		t.state = failure
	}
	return t
}

// observe records one attempt and reports whether the state changed.
func (t *tracker) observe(ok bool) bool {
	r, threshold := failure, t.failureThreshold
	if ok {
		r, threshold = success, t.successThreshold
	}
	if r == t.last {
		t.run++
	} else {
		t.last, t.run = r, 1
	}
	if t.run < threshold || t.state == r {
		return false
	}
	t.state = r
	return true
}

func (t *tracker) success() bool { return t.state == success }
