package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/rs/zerolog"
)

// notifyReady tells systemd (Type=notify) the agent is up. Outside systemd
// it does nothing.
func notifyReady(log zerolog.Logger) {
	if ok, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Warn().Err(err).Msg("telling systemd the agent is ready")
	} else if ok {
		log.Debug().Msg("told systemd the agent is ready")
	}
}

// healthCheck is one part of the agent that must make progress for the
// watchdog to be pinged: it returns nil when the part answered.
type healthCheck struct {
	name  string
	check func(context.Context) error
}

// watchdog pings systemd's watchdog at half its interval for as long as
// every check passes within a quarter of it: containerd answers, and the
// agent's own reconcile loop, store and local API make progress. A wedged
// agent (a reconcile stuck on a lock, a store write that never returns)
// stops pinging and systemd restarts it. Without WatchdogSec it returns.
func watchdog(ctx context.Context, checks []healthCheck, log zerolog.Logger) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval == 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			daemon.SdNotify(false, daemon.SdNotifyStopping)
			return
		case <-t.C:
			if err := healthy(ctx, checks, interval/4); err != nil {
				log.Warn().Err(err).Msg("unhealthy: not pinging the systemd watchdog")
				continue
			}
			daemon.SdNotify(false, daemon.SdNotifyWatchdog)
		}
	}
}

// healthy runs the checks at once and waits at most timeout for all of
// them: a check stuck beyond its context (a hung syscall) fails as late.
func healthy(ctx context.Context, checks []healthCheck, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	results := make(chan error, len(checks))
	for _, c := range checks {
		go func() {
			if err := c.check(ctx); err != nil {
				results <- fmt.Errorf("%s: %w", c.name, err)
				return
			}
			results <- nil
		}()
	}
	var errs []error
	for range checks {
		select {
		case err := <-results:
			errs = append(errs, err)
		case <-ctx.Done():
			return errors.Join(append(errs, fmt.Errorf("a check did not answer in %v", timeout))...)
		}
	}
	return errors.Join(errs...)
}

// progress records when a periodic step (the node status write) last came
// back, error or not: a step that fails still runs; one that never returns
// is stuck.
type progress struct {
	at  atomic.Int64 // unix nanoseconds
	max time.Duration
}

// newProgress starts counting now: the first step has max to come back.
func newProgress(max time.Duration) *progress {
	p := &progress{max: max}
	p.done()
	return p
}

func (p *progress) done() { p.at.Store(time.Now().UnixNano()) }

func (p *progress) check(context.Context) error {
	if since := time.Since(time.Unix(0, p.at.Load())); since > p.max {
		return fmt.Errorf("no progress for %v", since.Round(time.Second))
	}
	return nil
}

// answers checks that the local API serves requests: any HTTP answer will
// do, an error one included.
func (c *apiClient) answers(ctx context.Context) error {
	resp, err := c.do(ctx, http.MethodGet, "/v1/node", nil, nil)
	var ae *apiError
	if errors.As(err, &ae) {
		return nil
	}
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
