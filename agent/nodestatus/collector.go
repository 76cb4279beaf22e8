package nodestatus

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
)

// DefaultMaxPods is kubelet's default pod capacity.
const DefaultMaxPods = 110

// DefaultPressureTransitionPeriod is kubelet's
// --eviction-pressure-transition-period.
const DefaultPressureTransitionPeriod = 5 * time.Minute

// DefaultSystemReserved leaves room for the OS and the agent itself; on a
// 1 GB board, pods must not be promised all of it.
func DefaultSystemReserved() api.ResourceList {
	return api.ResourceList{
		api.ResourceCPU:    api.MustParseQuantity("100m"),
		api.ResourceMemory: api.MustParseQuantity("128Mi"),
	}
}

// readyTimeout bounds one call of Config.Ready.
const readyTimeout = 5 * time.Second

// Config configures a Collector. The zero value of each field means its default.
type Config struct {
	NodeName string
	// DataDir's filesystem is the node's ephemeral-storage (pods' files,
	// logs and containerd's root live there). When it does not exist yet,
	// its nearest existing parent is measured.
	DataDir string
	// MaxPods is the pods capacity (default DefaultMaxPods).
	MaxPods int
	// SystemReserved is taken off capacity (cpu, memory,
	// ephemeral-storage); nil means DefaultSystemReserved, an empty map
	// reserves nothing.
	SystemReserved api.ResourceList
	// Thresholds raise the pressure conditions and drive eviction; nil
	// means DefaultThresholds, an empty slice none. Hard thresholds on memory and nodefs are also
	// taken off allocatable, as kubelet does, so that pods filling the node
	// to allocatable do not trigger eviction.
	Thresholds []Threshold
	// PressureTransitionPeriod holds a pressure condition True this long
	// after its thresholds stop being met; 0 means the default, negative
	// means no hold.
	PressureTransitionPeriod time.Duration
	// SkipInterfaces are name patterns (path.Match) never used for the
	// InternalIP; nil means DefaultSkipInterfaces.
	SkipInterfaces []string
	// PodBridge is the pods' bridge, never used for the InternalIP either
	// (its address is the pods' gateway): the agent's network.bridge, which
	// DefaultSkipInterfaces matches only under its default name.
	PodBridge string

	AgentVersion      string
	ContainerdVersion string
	// InstanceID and PublicKey are the device's identity (agent/identity).
	InstanceID string
	PublicKey  string
	// Ready reports whether the node can run pods (containerd reachable,
	// store open...). A non-nil error makes Ready False with the error as
	// message. It gets a context bounded to 5s. Nil means always ready.
	Ready func(ctx context.Context) error

	System System
	Now    func() time.Time
	Logger zerolog.Logger
}

// Collector computes the node's status. It remembers the previous conditions
// so that LastTransitionTime moves only when a status changes, and the
// threshold history for grace and transition periods. It is safe for
// concurrent use.
type Collector struct {
	cfg Config
	log zerolog.Logger

	mu     sync.Mutex
	conds  map[string]api.NodeCondition
	states []thresholdState // parallel to cfg.Thresholds
	met    []ThresholdMet
}

// New returns a Collector with cfg's defaults filled in.
func New(cfg Config) *Collector {
	if cfg.MaxPods <= 0 {
		cfg.MaxPods = DefaultMaxPods
	}
	if cfg.SystemReserved == nil {
		cfg.SystemReserved = DefaultSystemReserved()
	}
	if cfg.Thresholds == nil {
		cfg.Thresholds = DefaultThresholds()
	}
	if cfg.PressureTransitionPeriod == 0 {
		cfg.PressureTransitionPeriod = DefaultPressureTransitionPeriod
	}
	if cfg.SkipInterfaces == nil {
		cfg.SkipInterfaces = DefaultSkipInterfaces
	}
	if cfg.PodBridge != "" {
		// A name, not a pattern: its pattern characters match themselves.
		exact := strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`).Replace(cfg.PodBridge)
		cfg.SkipInterfaces = append(slices.Clone(cfg.SkipInterfaces), exact)
	}
	if cfg.System == nil {
		cfg.System = Host{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Collector{
		cfg:    cfg,
		log:    cfg.Logger.With().Str("component", "nodestatus").Logger(),
		conds:  map[string]api.NodeCondition{},
		states: make([]thresholdState, len(cfg.Thresholds)),
	}
}

// Collect computes the status now. It always returns a status: a part that
// cannot be read is left out (capacity) or reported Unknown (conditions), and
// the returned error joins what went wrong, for the caller to log.
func (c *Collector) Collect(ctx context.Context) (api.NodeStatus, error) {
	sys := c.cfg.System
	now := c.cfg.Now()
	var errs []error
	obs := map[Signal]Observation{}
	obsErr := map[Signal]error{}

	capacity := api.ResourceList{
		api.ResourceCPU:  api.MustParseQuantity(strconv.Itoa(onlineCPUs(sys))),
		api.ResourcePods: api.MustParseQuantity(strconv.Itoa(c.cfg.MaxPods)),
	}
	if m, err := readMemInfo(sys); err != nil {
		errs = append(errs, err)
		obsErr[SignalMemoryAvailable] = err
	} else {
		capacity[api.ResourceMemory] = api.MustParseQuantity(formatBytes(m.Total))
		// MemAvailable, not kubelet's root-cgroup working set: on cgroup v2 the
		// root cgroup has no memory.current, and MemAvailable is the kernel's
		// own estimate of what can be had without swapping.
		obs[SignalMemoryAvailable] = Observation{Available: m.Available, Capacity: m.Total}
	}
	if fs, err := statfsNearest(sys, c.cfg.DataDir); err != nil {
		errs = append(errs, err)
		obsErr[SignalNodeFSAvailable], obsErr[SignalNodeFSInodesFree] = err, err
	} else {
		capacity[api.ResourceEphemeralStorage] = api.MustParseQuantity(formatBytes(fs.Capacity))
		obs[SignalNodeFSAvailable] = Observation{Available: fs.Available, Capacity: fs.Capacity}
		if fs.Inodes > 0 { // some filesystems (btrfs) report no inode counts
			obs[SignalNodeFSInodesFree] = Observation{Available: fs.InodesFree, Capacity: fs.Inodes}
		}
	}
	if p, err := readPIDs(sys); err != nil {
		errs = append(errs, err)
		obsErr[SignalPIDAvailable] = err
	} else {
		obs[SignalPIDAvailable] = Observation{Available: p.Max - p.Running, Capacity: p.Max}
	}

	// Containers cannot run without their cgroups, whatever containerd
	// says: that comes first, with its fix.
	cgroupErr := CheckCgroups(sys)
	var readyErr error
	if c.cfg.Ready != nil {
		// A hung containerd must not stall the status that reports it.
		rctx, cancel := context.WithTimeout(ctx, readyTimeout)
		readyErr = c.cfg.Ready(rctx)
		cancel()
	}

	st := api.NodeStatus{
		Name:        c.cfg.NodeName,
		Capacity:    capacity,
		Allocatable: c.allocatable(capacity),
		Addresses:   addresses(sys, c.cfg.SkipInterfaces),
		NodeInfo:    c.nodeInfo(&errs),
		Time:        now,
	}

	c.mu.Lock()
	c.met = c.evaluate(now, obs)
	st.Conditions = c.pressureConditions(now, obs, obsErr)
	switch {
	case cgroupErr != nil:
		st.Conditions = append(st.Conditions, c.condition(now, api.NodeReady, api.ConditionFalse, ReasonCgroupsUnusable, cgroupErr.Error()))
	case readyErr != nil:
		st.Conditions = append(st.Conditions, c.condition(now, api.NodeReady, api.ConditionFalse, ReasonNotReady, readyErr.Error()))
	default:
		st.Conditions = append(st.Conditions, c.condition(now, api.NodeReady, api.ConditionTrue, ReasonReady, messageReady))
	}
	c.mu.Unlock()
	return st, errors.Join(errs...)
}

// Met returns the thresholds met at the last Collect, for eviction.
func (c *Collector) Met() []ThresholdMet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ThresholdMet(nil), c.met...)
}

// allocatable is capacity minus system reservations and hard eviction
// thresholds, never below zero.
func (c *Collector) allocatable(capacity api.ResourceList) api.ResourceList {
	out := api.ResourceList{}
	for name, q := range capacity {
		switch name {
		case api.ResourceCPU:
			out[name] = api.MustParseQuantity(formatMilli(max(0, q.MilliValue()-c.reserved(name).MilliValue())))
		case api.ResourceMemory, api.ResourceEphemeralStorage:
			n := q.Value() - c.reserved(name).Value() - c.hardThreshold(name, q.Value())
			out[name] = api.MustParseQuantity(formatBytes(max(0, n)))
		default:
			out[name] = q
		}
	}
	return out
}

func (c *Collector) reserved(name string) api.Quantity { return c.cfg.SystemReserved[name] }

// hardThreshold is the largest hard threshold bound on the resource's
// availability signal.
func (c *Collector) hardThreshold(name string, capacity int64) int64 {
	sig := SignalMemoryAvailable
	if name == api.ResourceEphemeralStorage {
		sig = SignalNodeFSAvailable
	}
	var n int64
	for _, t := range c.cfg.Thresholds {
		if t.Signal == sig && t.GracePeriod == 0 {
			n = max(n, t.bound(capacity))
		}
	}
	return n
}

func (c *Collector) nodeInfo(errs *[]error) api.NodeInfo {
	sys := c.cfg.System
	info := api.NodeInfo{
		Architecture:      goruntime.GOARCH,
		OperatingSystem:   goruntime.GOOS,
		OSImage:           osImage(sys),
		AgentVersion:      c.cfg.AgentVersion,
		ContainerdVersion: c.cfg.ContainerdVersion,
		BootID:            readTrimmed(sys, pathBootID),
		MachineID:         readTrimmed(sys, pathMachineID),
		CgroupVersion:     cgroupVersion(sys),
		InstanceID:        c.cfg.InstanceID,
		PublicKey:         c.cfg.PublicKey,
	}
	if u, err := sys.Uname(); err != nil {
		*errs = append(*errs, err)
	} else {
		info.KernelVersion = u.Release
	}
	return info
}

// statfsNearest measures dir's filesystem, or its nearest existing parent's
// before the data dir is created.
func statfsNearest(sys System, dir string) (FSStats, error) {
	if dir == "" {
		dir = "/"
	}
	dir = filepath.Clean(dir)
	for {
		fs, err := sys.Statfs(dir)
		if err == nil {
			return fs, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return FSStats{}, fmt.Errorf("ephemeral storage: %w", err)
		}
		dir = parent
	}
}

// Run collects at once and then every interval, handing each status to
// publish, until ctx is done. Collection errors are logged; the partial
// status is still published.
func (c *Collector) Run(ctx context.Context, interval time.Duration, publish func(api.NodeStatus)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		st, err := c.Collect(ctx)
		if err != nil {
			c.log.Warn().Err(err).Msg("node status incomplete")
		}
		publish(st)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
