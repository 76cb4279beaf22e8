package nodestatus

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/agent/admission"
	"github.com/outpost-edge/outpost/api"
)

// ReasonEvicted is the pod status reason of an evicted pod, as in kubelet.
const ReasonEvicted = "Evicted"

// SystemCriticalPriority is Kubernetes' system-critical priority: pods at or
// above it are never evicted.
const SystemCriticalPriority = 2000000000

// DefaultMaxPodGracePeriod caps the grace of pods evicted for a soft
// threshold; it is also the grace of pods that do not set one.
const DefaultMaxPodGracePeriod = 30 * time.Second

// RunningPod is a pod holding resources on the node, with the uid its
// cgroups and directory are named by.
type RunningPod struct {
	UID string
	Pod *api.Pod
}

// Eviction is the decision to evict one pod.
type Eviction struct {
	UID string
	Pod *api.Pod
	// Resource is what the node is short of: memory, ephemeral-storage or pids.
	Resource string
	Reason   string // ReasonEvicted
	Message  string
	// GracePeriod is how long the pod gets to stop: 0 (kill now) for a hard
	// threshold, min(the pod's grace, MaxPodGracePeriod) for a soft one.
	GracePeriod time.Duration
	Usage       PodUsage
}

// EvictorConfig configures an Evictor.
type EvictorConfig struct {
	Usage UsageSource
	// UnusedImages deletes the images no container uses and returns their
	// names; under disk pressure it runs before any pod is evicted. Nil:
	// images are not deleted here.
	UnusedImages func(ctx context.Context) (deleted []string, err error)
	// MaxPodGracePeriod caps soft evictions' grace (default DefaultMaxPodGracePeriod).
	MaxPodGracePeriod time.Duration
	Logger            zerolog.Logger
}

// Evictor decides which pod to evict when thresholds are met.
type Evictor struct {
	usage        UsageSource
	unusedImages func(ctx context.Context) ([]string, error)
	maxGrace     time.Duration
	log          zerolog.Logger
}

// NewEvictor returns an Evictor; a nil Usage reads the host's cgroups.
func NewEvictor(cfg EvictorConfig) *Evictor {
	if cfg.Usage == nil {
		cfg.Usage = CgroupUsage{}
	}
	if cfg.MaxPodGracePeriod <= 0 {
		cfg.MaxPodGracePeriod = DefaultMaxPodGracePeriod
	}
	return &Evictor{usage: cfg.Usage, unusedImages: cfg.UnusedImages, maxGrace: cfg.MaxPodGracePeriod,
		log: cfg.Logger.With().Str("component", "eviction").Logger()}
}

// signalOrder is which met threshold is acted on first: memory, the
// fastest to kill the node, then disk, then pids.
var signalOrder = map[Signal]int{
	SignalMemoryAvailable:  0,
	SignalNodeFSAvailable:  1,
	SignalNodeFSInodesFree: 2,
	SignalPIDAvailable:     3,
}

// Evaluate returns the pods to evict now: at most one, the first ranked for
// the most pressing met threshold (memory before disk before pids). Like
// kubelet, one pod per evaluation: the next evaluation sees what its
// eviction freed before choosing another. Nothing is returned when no
// threshold is met or every pod is critical.
func (e *Evictor) Evaluate(ctx context.Context, met []ThresholdMet, pods []RunningPod) ([]Eviction, error) {
	met = e.imagesFirst(ctx, met)
	if len(met) == 0 || len(pods) == 0 {
		return nil, nil
	}
	first := slices.MinFunc(met, func(a, b ThresholdMet) int {
		return cmp.Compare(signalOrder[a.Threshold.Signal], signalOrder[b.Threshold.Signal])
	})
	ranked, err := e.Rank(ctx, first, pods)
	if err != nil || len(ranked) == 0 {
		return nil, err
	}
	e.log.Info().Str("pod", ranked[0].Pod.Metadata.Name).Str("uid", ranked[0].UID).
		Str("signal", string(first.Threshold.Signal)).Msg("evicting pod")
	return ranked[:1], nil
}

// Rank measures the pods and returns every evictable one, first to evict
// first, each with the message it would be evicted with. The order is
// documented in the package doc.
func (e *Evictor) Rank(ctx context.Context, met ThresholdMet, pods []RunningPod) ([]Eviction, error) {
	cands := make([]candidate, 0, len(pods))
	for _, p := range pods {
		if p.Pod == nil || priority(p.Pod) >= SystemCriticalPriority {
			continue
		}
		names := make([]string, len(p.Pod.Spec.Containers))
		for i, c := range p.Pod.Spec.Containers {
			names[i] = c.Name
		}
		u, err := e.usage.PodUsage(ctx, p.UID, names)
		if err != nil {
			return nil, fmt.Errorf("usage of pod %s (%s): %w", p.Pod.Metadata.Name, p.UID, err)
		}
		cands = append(cands, candidate{RunningPod: p, usage: u, req: admission.PodRequests(p.Pod)})
	}
	slices.SortStableFunc(cands, rankFunc(met.Threshold.Signal))
	out := make([]Eviction, len(cands))
	for i, c := range cands {
		out[i] = Eviction{
			UID: c.UID, Pod: c.Pod, Resource: met.Resource(), Reason: ReasonEvicted,
			Message:     evictionMessage(met, c),
			GracePeriod: e.gracePeriod(met.Threshold, c.Pod),
			Usage:       c.usage,
		}
	}
	return out, nil
}

type candidate struct {
	RunningPod
	usage PodUsage
	req   admission.Requests
}

func priority(p *api.Pod) int32 {
	if p.Spec.Priority == nil {
		return 0
	}
	return *p.Spec.Priority
}

// used and requested are a candidate's use and request of what the signal
// measures.
func (c candidate) used(s Signal) int64 {
	switch s {
	case SignalMemoryAvailable:
		return c.usage.Memory
	case SignalPIDAvailable:
		return c.usage.PIDs
	}
	return c.usage.Disk
}

func (c candidate) requested(s Signal) int64 {
	switch s {
	case SignalMemoryAvailable:
		return c.req.Memory
	case SignalPIDAvailable:
		return 0 // pids cannot be requested
	}
	return c.req.EphemeralStorage
}

// rankFunc orders candidates for the signal; ties fall back to name then uid
// so the order never depends on the input order.
func rankFunc(s Signal) func(a, b candidate) int {
	return func(a, b candidate) int {
		if s != SignalPIDAvailable {
			// Pods using more than they asked for go first.
			ea, eb := a.used(s) > a.requested(s), b.used(s) > b.requested(s)
			if ea != eb {
				if ea {
					return -1
				}
				return 1
			}
		}
		return cmp.Or(
			cmp.Compare(priority(a.Pod), priority(b.Pod)),
			// Larger use above the request goes first.
			cmp.Compare(b.used(s)-b.requested(s), a.used(s)-a.requested(s)),
			cmp.Compare(a.Pod.Metadata.Name, b.Pod.Metadata.Name),
			cmp.Compare(a.UID, b.UID),
		)
	}
}

func (e *Evictor) gracePeriod(t Threshold, p *api.Pod) time.Duration {
	if t.GracePeriod == 0 {
		return 0
	}
	g := DefaultMaxPodGracePeriod
	if s := p.Spec.TerminationGracePeriodSeconds; s != nil && *s >= 0 {
		g = time.Duration(*s) * time.Second
	}
	return min(g, e.maxGrace)
}

// evictionMessage reads like kubelet's: "The node was low on resource:
// memory. Threshold quantity: 100Mi, available: 80Mi. Container web was
// using 120Mi, request is 64Mi."
func evictionMessage(met ThresholdMet, c candidate) string {
	t, o := met.Threshold, met.Observed
	parts := []string{
		fmt.Sprintf("The node was low on resource: %s.", met.Resource()),
		fmt.Sprintf("Threshold quantity: %s, available: %s.", t.value(), formatSignal(t.Signal, o.Available)),
	}
	switch t.Signal {
	case SignalMemoryAvailable:
		var over []string
		for _, cu := range c.usage.Containers {
			req := containerMemoryRequest(c.Pod, cu.Name)
			if cu.Memory > req {
				over = append(over, fmt.Sprintf("Container %s was using %s, request is %s.",
					cu.Name, formatBytes(cu.Memory), formatBytes(req)))
			}
		}
		if len(over) == 0 {
			over = append(over, fmt.Sprintf("Pod was using %s, request is %s.",
				formatBytes(c.usage.Memory), formatBytes(c.req.Memory)))
		}
		parts = append(parts, over...)
	case SignalPIDAvailable:
		parts = append(parts, fmt.Sprintf("Pod was using %d pids.", c.usage.PIDs))
	default:
		parts = append(parts, fmt.Sprintf("Pod was using %s of ephemeral storage, request is %s.",
			formatBytes(c.usage.Disk), formatBytes(c.req.EphemeralStorage)))
	}
	return strings.Join(parts, " ")
}

func containerMemoryRequest(p *api.Pod, name string) int64 {
	for _, c := range p.Spec.Containers {
		if c.Name == name {
			return admission.ContainerRequests(c).Memory
		}
	}
	return 0
}
