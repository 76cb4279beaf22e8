package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	ctrdversion "github.com/containerd/containerd/v2/version"
	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/agent"
	"github.com/outpost-edge/outpost/agent/admission"
	"github.com/outpost-edge/outpost/agent/localapi"
	"github.com/outpost-edge/outpost/agent/manifests"
	"github.com/outpost-edge/outpost/agent/nodestatus"
	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/cmd/outpost/config"
	"github.com/outpost-edge/outpost/netrules"
	"github.com/outpost-edge/outpost/runtime"
	"github.com/outpost-edge/outpost/runtime/cni"
	"github.com/outpost-edge/outpost/runtime/containerspec"
	"github.com/outpost-edge/outpost/runtime/ctrd"
	"github.com/outpost-edge/outpost/runtime/images"
	"github.com/outpost-edge/outpost/runtime/logs"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/mqttlink"
)

// Image garbage collection cadence, and how long an abandoned partial
// download is kept for a later pull to resume.
const (
	nodeStatusInterval = 10 * time.Second
	coldPagesDelay     = time.Minute
	coldPagesInterval  = 30 * time.Minute
	imageGCInterval    = 5 * time.Minute
	pullLeaseMaxAge    = 24 * time.Hour
	// linkStopWait bounds how long a clean stop waits for the control
	// plane link's goodbye (the online=false message, then DISCONNECT)
	// before closing the store under it.
	linkStopWait = 5 * time.Second
)

// agentFlags are the flags every command that reads the configuration takes.
type agentFlags struct {
	config, dataDir, logLevel string
}

func (f *agentFlags) register(fl *flag.FlagSet) {
	fl.StringVar(&f.config, "config", config.DefaultPath, "configuration file")
	fl.StringVar(&f.dataDir, "data-dir", "", "data directory (overrides dataDir)")
	fl.StringVar(&f.logLevel, "log-level", "", "log level (overrides log.level)")
}

// load reads the configuration and applies the flags over it.
func (f *agentFlags) load() (config.Config, error) {
	cfg, err := config.Load(f.config, f.config == config.DefaultPath)
	if err != nil {
		return cfg, err
	}
	if f.dataDir != "" {
		abs, err := filepath.Abs(f.dataDir)
		if err != nil {
			return cfg, err
		}
		cfg.DataDir = abs
	}
	if f.logLevel != "" {
		cfg.Log.Level = f.logLevel
	}
	return cfg, cfg.Validate()
}

// runAgent starts the node agent: the store, then the runtime with its
// embedded containerd, then the background loops; SIGTERM or SIGINT stops
// it and leaves the containers running.
func runAgent(args []string, _, stderr io.Writer) error {
	fl := flag.NewFlagSet("agent", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var f agentFlags
	f.register(fl)
	socket := fl.String("socket", "", "local API socket (default <dataDir>/outpost.sock)")
	drain := fl.Bool("drain", false, "stop every pod with its grace period, remove its containers, and exit (the desired state is kept)")
	if err := fl.Parse(args); err != nil {
		return exitError{Code: 2}
	}
	cfg, err := f.load()
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, os.Stderr)
	ctrd.RouteGlobalLogs(log.Level(max(log.GetLevel(), zerolog.WarnLevel)))
	// A restarting journald must not take the agent down with SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return agentMain(ctx, cfg, log, *drain, *socket)
}

func agentMain(ctx context.Context, cfg config.Config, log zerolog.Logger, drain bool, socketPath string) error {
	began := time.Now()
	// Whatever ends ag.Run stops the background loops, the link included.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	id, log, err := loadIdentity(&cfg, log)
	if err != nil {
		return err
	}
	serviceCIDR, _ := cfg.ServiceCIDR()
	st, err := store.Open(filepath.Join(cfg.DataDir, "state.db"), store.Options{
		Logger: log, Groups: cfg.Groups, ServiceCIDR: serviceCIDR,
		OutboxMaxCount: cfg.Store.OutboxMaxMessages, OutboxMaxBytes: int64(cfg.Store.OutboxMaxBytes),
		EventsKeep: cfg.Store.EventsKeep,
		// A corrupt file must not crash-loop a device nobody can reach:
		// move it aside, start empty, rebuild (rebuildStore below).
		MoveCorrupt: true,
	})
	if err != nil {
		return err
	}
	defer st.Close()
	// bbolt panicked on the file at run time (the store returns ErrCorrupt
	// from then on): stop, leaving the containers running; the next start
	// moves the file aside and rebuilds.
	go func() {
		select {
		case <-st.Corrupted():
			cancel()
		case <-ctx.Done():
		}
	}()
	recordReplaced(ctx, st, id, log)
	if err := leaveGroups(ctx, st, cfg.Groups, log); err != nil {
		return err
	}

	network, err := cni.New(ctx, cni.Config{
		PluginDirs: cfg.Net.CNIPluginDirs,
		ConfDir:    filepath.Join(cfg.DataDir, "cni", "net.d"),
		DataDir:    filepath.Join(cfg.DataDir, "cni", "networks"),
		CacheDir:   filepath.Join(cfg.DataDir, "cni", "cache"),
		PodCIDR:    cfg.PodCIDR(),
		BridgeName: cfg.Net.Bridge,
		MTU:        cfg.Net.MTU,
	}, log)
	if err != nil {
		return err
	}
	logMax, _ := cfg.LogMaxSize()
	rt, err := runtime.New(ctx, runtime.Config{
		DataDir:           cfg.DataDir,
		StateDir:          cfg.Containerd.StateDir,
		ContainerdAddress: cfg.Containerd.Address,
		Policy: containerspec.Policy{AllowPrivileged: cfg.Runtime.AllowPrivileged, AllowHostNetwork: cfg.Runtime.AllowHostNetwork,
			HostPathPrefixes: cfg.Runtime.HostPathPrefixes},
		PidsLimit: cfg.Pods.PidsLimit,
		Logs:      logs.Options{MaxSize: logMax, MaxFiles: cfg.Runtime.LogMaxFiles},
		Network:   runtime.CNI(network),
		Logger:    log,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := rt.Close(); err != nil {
			log.Warn().Err(err).Msg("stopping containerd")
		}
	}()
	if err := rebuildStore(ctx, st, rt, takesSource(cfg.MQTT.Enabled(), cfg.Groups), log); err != nil {
		return err
	}
	puller, err := images.NewPuller(rt.Client(), images.PullerConfig{Registry: cfg.Images.Registries, Logger: log})
	if err != nil {
		return err
	}
	rt.SetPuller(func(ctx context.Context, ref, policy string) (containerd.Image, bool, error) {
		res, err := puller.EnsureResult(ctx, ref, policy)
		if res.Offline != nil {
			log.Warn().Err(res.Offline).Str("image", ref).Msg("registry unreachable: using the image already on the node")
		}
		return res.Image, res.Pulled, err
	})
	gc, err := images.NewGC(rt.Client(), images.GCConfig{
		Usage:       images.FilesystemUsage(cfg.DataDir),
		HighPercent: cfg.Images.GCHighPercent, LowPercent: cfg.Images.GCLowPercent, Logger: log,
	})
	if err != nil {
		return err
	}
	go gc.Run(ctx, imageGCInterval)
	go pruneLeases(ctx, puller, log)
	if cfg.Runtime.PodLogRetention > 0 {
		go every(ctx, time.Hour, func() {
			if n, err := rt.PruneLogs(ctx, cfg.Runtime.PodLogRetention); err != nil {
				log.Warn().Err(err).Msg("pruning logs of deleted pods")
			} else if n > 0 {
				log.Info().Int("pods", n).Msg("pruned logs of deleted pods")
			}
		})
	}

	collector := nodestatus.New(nodestatus.Config{
		NodeName: cfg.NodeName, DataDir: cfg.DataDir, MaxPods: cfg.Node.MaxPods,
		SystemReserved: api.ResourceList{api.ResourceCPU: cfg.Node.ReservedCPU, api.ResourceMemory: cfg.Node.ReservedMemory},
		Thresholds:     cfg.Node.Thresholds(), AgentVersion: version, ContainerdVersion: containerdVersion(ctx, rt.Client(), log),
		PodBridge: cfg.Net.Bridge, InstanceID: id.InstanceID, PublicKey: id.PublicKey(),
		Ready:  func(ctx context.Context) error { _, err := rt.Client().Version(ctx); return err },
		Logger: log,
	})
	// The node reports Ready False with the fix too (nodestatus); say it
	// once where the operator looks first.
	if err := nodestatus.CheckCgroups(nodestatus.Host{}); err != nil {
		log.Error().Err(err).Msg("containers cannot run on this node")
	}
	var nodeState atomic.Pointer[api.NodeStatus]
	first, err := collector.Collect(ctx)
	if err != nil {
		log.Warn().Err(err).Msg("node status incomplete")
	}
	storeCond := storeCondition(st.Recovered(), began)
	first.Conditions = append(first.Conditions, storeCond, nameConflictCondition(nil, began))
	nodeState.Store(&first)
	// Service routing; a kernel without the nftables features it needs is
	// reported by name, and the pods run without service routing.
	var rules agent.Rules
	var routing localapi.Rules
	nrCfg := netrules.Config{PodCIDR: cfg.PodCIDR(), BridgeName: cfg.Net.Bridge, LocalhostNodePorts: cfg.Net.LocalhostNodePorts,
		ServiceCIDR: serviceCIDR}
	if nr, err := netrules.New(ctx, nrCfg, log); err != nil {
		log.Error().Err(err).Msg("service routing is off")
	} else {
		defer nr.Close()
		rules, routing = nr, nr
		if err := netrules.EnableForwarding(); err != nil {
			log.Warn().Err(err).Msg("enabling IPv4 forwarding for pod traffic")
		}
		if cfg.Net.LocalhostNodePorts {
			if err := netrules.EnableRouteLocalnet(); err != nil {
				log.Warn().Err(err).Msg("enabling route_localnet: node ports on 127.0.0.1 will not answer")
			}
		}
	}
	ag := agent.New(agent.Options{Store: st, Runtime: rt, Logger: log, Rules: rules, Allocator: st,
		Backoff:  agent.Backoff{Initial: cfg.Pods.BackoffInitial, Max: cfg.Pods.BackoffMax, Reset: cfg.Pods.BackoffReset},
		KeepLogs: cfg.Runtime.PodLogRetention > 0,
		Admit: func(pod *api.Pod, admitted []*api.Pod) (bool, string, string) {
			return admission.Admit(*nodeState.Load(), admitted, pod)
		},
	})
	if drain {
		log.Info().Msg("draining the node")
		return ag.Drain(ctx)
	}
	watcher := manifests.New(cfg.ManifestDir, st, func(ctx context.Context, file string, err error) {
		ev := api.Event{Type: api.EventNormal, Reason: agent.ReasonInvalidManifest, Object: "manifest/" + file,
			Message: "valid again", Time: time.Now().UTC()}
		if err != nil {
			ev.Type, ev.Message = api.EventWarning, err.Error()
		}
		if err := st.RecordEvent(ctx, ev); err != nil {
			log.Error().Err(err).Msg("recording event")
		}
	}, log)
	// The static manifests go into the store before the first reconcile,
	// so a device that boots offline starts its base workloads at once.
	if err := watcher.Sync(ctx); err != nil {
		log.Error().Err(err).Msg("syncing static manifests")
	}
	go func() {
		if err := watcher.Run(ctx); err != nil {
			log.Error().Err(err).Str("dir", cfg.ManifestDir).Msg("static manifest watcher stopped")
		}
	}()
	backend := &localapi.StoreBackend{Store: st, Runtime: rt, Static: localapi.NewManifestDir(cfg.ManifestDir, log)}
	// linkDone is closed once the link has said goodbye; without a link it
	// is closed at once.
	linkDone := make(chan struct{})
	// nameConflict is the link's, once there is one (set before the
	// node status loop starts, read only by it).
	nameConflict := func() *mqttlink.NameConflict { return nil }
	if cfg.MQTT.Enabled() {
		link, err := mqttlink.New(st, cfg.MQTT, mqttlink.Params{NodeName: cfg.NodeName, Groups: cfg.Groups, AgentVersion: version,
			InstanceID: id.InstanceID, Logger: log})
		if err != nil {
			return err
		}
		nameConflict = func() *mqttlink.NameConflict { return link.State().NameConflict }
		backend.Link = func(context.Context) localapi.LinkState {
			s := link.State()
			return localapi.LinkState{State: s.State, LastConnect: s.LastConnect, LastError: s.LastError, OutboxDepth: s.OutboxDepth}
		}
		go func() {
			defer close(linkDone)
			if err := link.Run(ctx); err != nil {
				log.Error().Err(err).Msg("control plane link stopped")
			}
		}()
	} else {
		close(linkDone)
		log.Info().Msg("no MQTT broker configured: running from local state only")
	}
	local := localapi.New(backend,
		localapi.Options{Socket: socketPath, DataDir: cfg.DataDir, NodeName: cfg.NodeName, Started: began, Logger: log, Rules: routing})
	go func() {
		if err := local.Run(ctx); err != nil {
			log.Error().Err(err).Msg("local API stopped")
		}
	}()
	evictor := nodestatus.NewEvictor(nodestatus.EvictorConfig{
		Usage: nodestatus.CgroupUsage{PodsDir: filepath.Join(cfg.DataDir, "pods"), Layers: rt},
		UnusedImages: func(ctx context.Context) ([]string, error) {
			res, err := gc.CollectUnused(ctx)
			return res.Deleted, err
		},
		Logger: log,
	})
	// The node status write every nodeStatusInterval is the watchdog's
	// sign that the store makes progress (a write that fails still
	// returns; one stuck in a wedged store does not).
	storeProgress := newProgress(3 * nodeStatusInterval)
	go collector.Run(ctx, nodeStatusInterval, func(ns api.NodeStatus) {
		ns.Conditions = append(ns.Conditions, storeCond, nameConflictCondition(nameConflict(), began))
		nodeState.Store(&ns)
		if b, err := json.Marshal(ns); err == nil {
			if err := st.PutNodeStatus(ctx, b); err != nil {
				log.Error().Err(err).Msg("writing node status")
			}
		}
		storeProgress.done()
		var running []nodestatus.RunningPod
		for _, p := range ag.Admitted() {
			running = append(running, nodestatus.RunningPod{UID: p.UID, Pod: p.Pod})
		}
		evictions, err := evictor.Evaluate(ctx, collector.Met(), running)
		if err != nil {
			log.Warn().Err(err).Msg("evaluating evictions")
		}
		for _, e := range evictions {
			ag.Evict(e.UID, e.Resource, e.Message, e.GracePeriod)
		}
	})
	go func() {
		select {
		case <-ag.Ready():
			log.Info().Dur("took", time.Since(began)).Str("version", version).Str("dataDir", cfg.DataDir).Msg("agent ready")
			notifyReady(log)
			// Start-up code and data, touched once, need not stay resident.
			// Not at once: the pods starting now need much of it (a dropped
			// page is read back from disk); then now and then.
			go func() {
				select {
				case <-time.After(coldPagesDelay):
					every(ctx, coldPagesInterval, func() { dropColdPages() })
				case <-ctx.Done():
				}
			}()
			watchdog(ctx, []healthCheck{
				{"containerd", func(ctx context.Context) error { _, err := rt.Client().Version(ctx); return err }},
				{"reconcile loop", ag.Ping},
				{"store", storeProgress.check},
				{"local API", newAPIClient(local.Socket()).answers},
			}, log)
		case <-ctx.Done():
		}
	}()
	err = ag.Run(ctx)
	cancel()
	// The link's goodbye (docs/protocol.md: the clean-stop online message)
	// needs the store and the process: wait for it, bounded, before the
	// deferred closes run.
	select {
	case <-linkDone:
	case <-time.After(linkStopWait):
		log.Warn().Dur("waited", linkStopWait).Msg("control plane link did not stop in time")
	}
	log.Info().Msg("stopped; containers keep running")
	select {
	case <-st.Corrupted():
		return fmt.Errorf("state file %s is corrupt: stopped; the next start moves it aside", st.Path())
	default:
	}
	return err
}

// containerdVersion is the version of the containerd the agent talks to:
// an external one (containerd.address) has its own. When the server does
// not answer, the compiled-in library's version stands in (the embedded
// containerd's own).
func containerdVersion(ctx context.Context, c *containerd.Client, log zerolog.Logger) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := c.Version(ctx)
	if err != nil || v.Version == "" {
		log.Warn().Err(err).Msg("asking containerd its version: reporting the compiled-in one")
		return ctrdversion.Version
	}
	return v.Version
}

func pruneLeases(ctx context.Context, p *images.Puller, log zerolog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := p.PruneLeases(ctx, pullLeaseMaxAge); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn().Err(err).Msg("pruning abandoned pulls")
		} else if n > 0 {
			log.Info().Int("leases", n).Msg("dropped abandoned partial pulls")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// errNoAgent explains a CLI command that needs the agent's containerd.
func errNoAgent(addr string, err error) error {
	return fmt.Errorf("cannot reach the agent's containerd at %s (is `outpost agent` running?): %w", addr, err)
}

// every runs f now and then every interval until ctx is done.
func every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		f()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
