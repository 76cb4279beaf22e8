package main

import (
	"context"
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

// watchdog pings systemd's watchdog at half its interval for as long as
// healthy says the agent works (its containerd answers); a wedged agent
// stops pinging and systemd restarts it. Without WatchdogSec it returns.
func watchdog(ctx context.Context, healthy func(context.Context) error, log zerolog.Logger) {
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
			hctx, cancel := context.WithTimeout(ctx, interval/4)
			err := healthy(hctx)
			cancel()
			if err != nil {
				log.Warn().Err(err).Msg("unhealthy: not pinging the systemd watchdog")
				continue
			}
			daemon.SdNotify(false, daemon.SdNotifyWatchdog)
		}
	}
}
