package agent

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/clock"
)

// Event reasons the agent records.
const (
	ReasonScheduled        = "Scheduled"
	ReasonPulled           = "Pulled"
	ReasonCreated          = "Created"
	ReasonStarted          = "Started"
	ReasonKilling          = "Killing"
	ReasonBackOff          = "BackOff"
	ReasonUnhealthy        = "Unhealthy"
	ReasonFailed           = "Failed"
	ReasonFailedAdmission  = "FailedAdmission"
	ReasonInvalidManifest  = "InvalidManifest"
	ReasonAdopted          = "Adopted"
	ReasonSandboxFailed    = "FailedCreatePodSandBox"
	ReasonNameConflict     = "NameConflict"
	ReasonCompleted        = "Completed"
	ReasonOOMKilling       = "OOMKilled"
	ReasonContainerRemoved = "Removed"
)

// recorder writes events to the store and the log. It remembers the last
// event per object so a repeated one (a crash loop's BackOff) is counted
// instead of flooding the outbox.
type recorder struct {
	store Store
	log   zerolog.Logger
	clock clock.Clock
}

func (r *recorder) event(ctx context.Context, object, typ, reason, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	ev := api.Event{Type: typ, Reason: reason, Message: msg, Object: object, Time: r.clock.Now().UTC()}
	l := r.log.Info()
	if typ == api.EventWarning {
		l = r.log.Warn()
	}
	l.Str("object", object).Str("reason", reason).Msg(msg)
	if err := r.store.RecordEvent(context.WithoutCancel(ctx), ev); err != nil {
		r.log.Error().Err(err).Str("reason", reason).Msg("recording event")
	}
}

func (r *recorder) normal(ctx context.Context, object, reason, format string, args ...any) {
	r.event(ctx, object, api.EventNormal, reason, format, args...)
}

func (r *recorder) warning(ctx context.Context, object, reason, format string, args ...any) {
	r.event(ctx, object, api.EventWarning, reason, format, args...)
}
