package nodestatus

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/api"
)

// Condition reasons. They mirror kubelet's ("KubeletHasSufficientMemory")
// with Outpost's prefix.
const (
	ReasonReady                = "OutpostReady"
	ReasonNotReady             = "OutpostNotReady"
	ReasonSufficientMemory     = "OutpostHasSufficientMemory"
	ReasonInsufficientMemory   = "OutpostHasInsufficientMemory"
	ReasonNoDiskPressure       = "OutpostHasNoDiskPressure"
	ReasonDiskPressure         = "OutpostHasDiskPressure"
	ReasonSufficientPID        = "OutpostHasSufficientPID"
	ReasonInsufficientPID      = "OutpostHasInsufficientPID"
	ReasonSignalNotObservable  = "OutpostCannotObserve"
	messageReady               = "outpost is ready"
	messageUnknownSignalPrefix = "cannot observe "
)

// pressureCondition ties a node condition to the signals that raise it.
type pressureCondition struct {
	typ                 string
	signals             []Signal
	okReason, okMessage string
	reason, message     string
}

// pressureConditions are reported in kubelet's order, Ready last.
var pressureConditions = []pressureCondition{
	{api.NodeMemoryPressure, []Signal{SignalMemoryAvailable},
		ReasonSufficientMemory, "outpost has sufficient memory available",
		ReasonInsufficientMemory, "outpost has insufficient memory available"},
	{api.NodeDiskPressure, []Signal{SignalNodeFSAvailable, SignalNodeFSInodesFree},
		ReasonNoDiskPressure, "outpost has no disk pressure",
		ReasonDiskPressure, "outpost has disk pressure"},
	{api.NodePIDPressure, []Signal{SignalPIDAvailable},
		ReasonSufficientPID, "outpost has sufficient PID available",
		ReasonInsufficientPID, "outpost has insufficient PID available"},
}

// thresholdState is what the collector remembers of one threshold between
// collections.
type thresholdState struct {
	// below is since when the signal has been continuously below the bound
	// (zero when it is not), for soft thresholds' grace period.
	below time.Time
	// met is when the threshold last counted as met, for the transition
	// period that keeps a condition from flapping.
	met time.Time
}

// evaluate updates the threshold states with the observations and returns
// the thresholds met now. Caller holds c.mu.
func (c *Collector) evaluate(now time.Time, obs map[Signal]Observation) []ThresholdMet {
	var met []ThresholdMet
	for i, t := range c.cfg.Thresholds {
		o, ok := obs[t.Signal]
		st := &c.states[i]
		if !ok {
			// Unobservable: neither start nor end a grace period on no data.
			continue
		}
		if o.Available >= t.bound(o.Capacity) {
			st.below = time.Time{}
			continue
		}
		if st.below.IsZero() {
			st.below = now
		}
		if now.Sub(st.below) >= t.GracePeriod {
			st.met = now
			met = append(met, ThresholdMet{Threshold: t, Observed: o})
		}
	}
	return met
}

// pressureConditions builds the pressure conditions from the threshold
// states: a condition is True while one of its thresholds was met within
// the transition period. Caller holds c.mu.
func (c *Collector) pressureConditions(now time.Time, obs map[Signal]Observation, errs map[Signal]error) []api.NodeCondition {
	out := make([]api.NodeCondition, 0, len(pressureConditions)+1)
	for _, pc := range pressureConditions {
		var details []string
		observed := false
		for _, s := range pc.signals {
			if _, ok := obs[s]; ok {
				observed = true
			}
		}
		if !observed {
			var why []string
			for _, s := range pc.signals {
				if err := errs[s]; err != nil {
					why = append(why, fmt.Sprintf("%s: %v", s, err))
				}
			}
			out = append(out, c.condition(now, pc.typ, api.ConditionUnknown, ReasonSignalNotObservable,
				messageUnknownSignalPrefix+strings.Join(why, "; ")))
			continue
		}
		for i, t := range c.cfg.Thresholds {
			st := c.states[i]
			if !slices.Contains(pc.signals, t.Signal) || st.met.IsZero() {
				continue
			}
			metNow := st.met.Equal(now)
			if !metNow && now.Sub(st.met) >= c.cfg.PressureTransitionPeriod {
				continue
			}
			o := obs[t.Signal]
			d := fmt.Sprintf("%s is %s, threshold %s", t.Signal, formatSignal(t.Signal, o.Available), t)
			if !metNow {
				d = fmt.Sprintf("threshold %s last met at %s, held for %s", t, st.met.UTC().Format(time.RFC3339), c.cfg.PressureTransitionPeriod)
			}
			details = append(details, d)
		}
		if len(details) > 0 {
			out = append(out, c.condition(now, pc.typ, api.ConditionTrue, pc.reason,
				pc.message+": "+strings.Join(details, "; ")))
			continue
		}
		out = append(out, c.condition(now, pc.typ, api.ConditionFalse, pc.okReason, pc.okMessage))
	}
	return out
}

// condition returns the condition, keeping the previous LastTransitionTime
// unless the status changed. Caller holds c.mu.
func (c *Collector) condition(now time.Time, typ, status, reason, message string) api.NodeCondition {
	cond := api.NodeCondition{Type: typ, Status: status, Reason: reason, Message: message, LastTransitionTime: now}
	if prev, ok := c.conds[typ]; ok && prev.Status == status {
		cond.LastTransitionTime = prev.LastTransitionTime
	}
	c.conds[typ] = cond
	return cond
}
