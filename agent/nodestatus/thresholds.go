package nodestatus

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/api"
)

// Signal names an observed quantity, with kubelet's eviction signal names.
type Signal string

// Signals the node observes.
const (
	SignalMemoryAvailable  Signal = "memory.available"
	SignalNodeFSAvailable  Signal = "nodefs.available"
	SignalNodeFSInodesFree Signal = "nodefs.inodesFree"
	SignalPIDAvailable     Signal = "pid.available"
)

// ErrInvalidThreshold is wrapped by threshold parse errors.
var ErrInvalidThreshold = errors.New("invalid eviction threshold")

// Threshold is met when the signal's available amount drops below the bound:
// Quantity (bytes, inodes or pids), or Percent of the capacity when Percent
// is set.
type Threshold struct {
	Signal   Signal
	Quantity int64
	Percent  float64
	// GracePeriod makes the threshold soft: it counts as met only once the
	// signal has been below the bound for that long. Zero is a hard
	// threshold, met on the first observation and subtracted from
	// allocatable like kubelet's hard eviction thresholds.
	GracePeriod time.Duration
}

// DefaultThresholds are kubelet's hard eviction defaults plus pid.available:
// memory.available<100Mi, nodefs.available<10%, nodefs.inodesFree<5%,
// pid.available<5%.
func DefaultThresholds() []Threshold {
	return []Threshold{
		{Signal: SignalMemoryAvailable, Quantity: 100 << 20},
		{Signal: SignalNodeFSAvailable, Percent: 10},
		{Signal: SignalNodeFSInodesFree, Percent: 5},
		{Signal: SignalPIDAvailable, Percent: 5},
	}
}

// ParseThreshold reads kubelet's notation: "memory.available<100Mi",
// "nodefs.available<10%", "pid.available<1000".
func ParseThreshold(s string) (Threshold, error) {
	sig, val, ok := strings.Cut(strings.TrimSpace(s), "<")
	if !ok {
		return Threshold{}, fmt.Errorf("%w: %q: want signal<quantity", ErrInvalidThreshold, s)
	}
	t := Threshold{Signal: Signal(strings.TrimSpace(sig))}
	switch t.Signal {
	case SignalMemoryAvailable, SignalNodeFSAvailable, SignalNodeFSInodesFree, SignalPIDAvailable:
	default:
		return Threshold{}, fmt.Errorf("%w: %q: unknown signal %q", ErrInvalidThreshold, s, sig)
	}
	val = strings.TrimSpace(val)
	if p, isPercent := strings.CutSuffix(val, "%"); isPercent {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 || f > 100 {
			return Threshold{}, fmt.Errorf("%w: %q: percentage must be in (0, 100]", ErrInvalidThreshold, s)
		}
		t.Percent = f
		return t, nil
	}
	q, err := api.ParseQuantity(val)
	if err != nil || q.Sign() <= 0 {
		return Threshold{}, fmt.Errorf("%w: %q: quantity must be positive", ErrInvalidThreshold, s)
	}
	t.Quantity = q.Value()
	return t, nil
}

// bound is the threshold in the signal's unit for the given capacity.
func (t Threshold) bound(capacity int64) int64 {
	if t.Percent > 0 {
		return int64(float64(capacity) * t.Percent / 100)
	}
	return t.Quantity
}

func (t Threshold) String() string { return string(t.Signal) + "<" + t.value() }

// value is the bound as configured: "10%" or "100Mi".
func (t Threshold) value() string {
	if t.Percent > 0 {
		return strconv.FormatFloat(t.Percent, 'f', -1, 64) + "%"
	}
	return formatSignal(t.Signal, t.Quantity)
}

// Observation is one signal's reading.
type Observation struct {
	Available int64
	Capacity  int64
}

// ThresholdMet is a threshold met at the last collection and what was seen.
type ThresholdMet struct {
	Threshold Threshold
	Observed  Observation
}

// Resource is the resource a met threshold is short of.
func (m ThresholdMet) Resource() string { return signalResource[m.Threshold.Signal] }

var signalResource = map[Signal]string{
	SignalMemoryAvailable:  api.ResourceMemory,
	SignalNodeFSAvailable:  api.ResourceEphemeralStorage,
	SignalNodeFSInodesFree: api.ResourceEphemeralStorage,
	SignalPIDAvailable:     "pids",
}

// formatSignal writes an amount in the signal's unit.
func formatSignal(s Signal, n int64) string {
	switch s {
	case SignalMemoryAvailable, SignalNodeFSAvailable:
		return formatBytes(n)
	}
	return strconv.FormatInt(n, 10)
}

// formatBytes writes n with the largest binary suffix that divides it
// exactly ("128Mi", "1536Ki", "1000"), as a Quantity would read it back.
func formatBytes(n int64) string {
	if n == 0 {
		return "0"
	}
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"Ti", 40}, {"Gi", 30}, {"Mi", 20}, {"Ki", 10}} {
		if n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// formatMilli writes millicores as a cpu quantity ("2", "1900m").
func formatMilli(m int64) string {
	if m%1000 == 0 {
		return strconv.FormatInt(m/1000, 10)
	}
	return strconv.FormatInt(m, 10) + "m"
}
