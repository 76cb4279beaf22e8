package netrules

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/api"
)

// Defaults for Config's zero fields. Bridge and pod CIDR mirror
// runtime/cni's defaults; the agent passes the values it gave the CNI.
const (
	DefaultTableName  = "outpost"
	DefaultBridgeName = "outpost0"
)

// DefaultPodCIDR is the pod network unless configured.
var DefaultPodCIDR = netip.MustParsePrefix("10.88.0.0/16")

// Config says where the rules live and what the pod network looks like.
type Config struct {
	// TableName is the one table (family ip) the rules own.
	TableName string
	// PodCIDR is the bridge's network: its traffic leaving through another
	// interface is masqueraded.
	PodCIDR netip.Prefix
	// BridgeName is the pods' bridge.
	BridgeName string
	// LocalhostNodePorts also serves node ports and host ports on
	// 127.0.0.0/8. It needs net.ipv4.conf.all.route_localnet=1 (see
	// EnableRouteLocalnet), which the caller sets; off by default, as in
	// kube-proxy's nftables mode.
	LocalhostNodePorts bool
	// ServiceCIDR, when set, gets a route via lo in the main table, so
	// that the node's own connections to service VIPs work without a
	// default route (see route.go). Cleanup removes it.
	ServiceCIDR netip.Prefix
	// NetNSPath is a pinned network namespace to program instead of the
	// agent's own (tests and benchmarks use a throwaway one).
	NetNSPath string
	// FullSyncPeriod replaces the table this often even though nothing
	// changed (Resync wakes the caller); 0 means DefaultFullSyncPeriod,
	// negative never.
	FullSyncPeriod time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.TableName == "" {
		c.TableName = DefaultTableName
	}
	if c.BridgeName == "" {
		c.BridgeName = DefaultBridgeName
	}
	if !c.PodCIDR.IsValid() {
		c.PodCIDR = DefaultPodCIDR
	}
	switch {
	case !c.PodCIDR.Addr().Is4():
		return c, fmt.Errorf("netrules: %w: pod CIDR %s is not IPv4", ErrInvalid, c.PodCIDR)
	case len(c.BridgeName) >= unix.IFNAMSIZ:
		return c, fmt.Errorf("netrules: %w: bridge name %q is too long", ErrInvalid, c.BridgeName)
	case c.ServiceCIDR.IsValid() && !c.ServiceCIDR.Addr().Is4():
		return c, fmt.Errorf("netrules: %w: service CIDR %s is not IPv4", ErrInvalid, c.ServiceCIDR)
	case len(c.TableName) > 200:
		return c, fmt.Errorf("netrules: %w: table name too long", ErrInvalid)
	}
	c.PodCIDR = c.PodCIDR.Masked()
	c.ServiceCIDR = c.ServiceCIDR.Masked()
	return c, nil
}

// Rules programs the table. Its methods may be called concurrently; they
// run one at a time.
type Rules struct {
	cfg Config
	log zerolog.Logger

	mu       sync.Mutex
	conn     *nftables.Conn
	nl       *netlink.Conn // the Conn's socket, for buffer sizes and deadlines
	ns       *os.File      // keeps Config.NetNSPath open while the socket lives
	seq      uint32        // of the last netlink message sent in a batch
	applied  *ruleset      // what the kernel has; nil: the next sync is full
	cache    *endpointCache
	features []string
	routeOK  bool       // the service CIDR route is as Config says
	routeErr string     // why not, as last logged
	synced   syncRecord // the last successful sync, for Status
	closed   bool

	monitor *netlink.Conn // nftables notifications, for drift
	dirty   atomic.Bool   // the next Sync is full: the table drifted or is due
	foreign atomic.Int64  // changes to the table by other processes, seen
	resync  chan struct{}
	stop    chan struct{} // closed by Close
}

// New connects to nftables (in Config.NetNSPath if set) and checks that
// the kernel has every feature the rules use: ErrUnsupported names the
// missing CONFIG_ options. It does not touch the table: the first Sync
// replaces it, Cleanup removes it.
func New(ctx context.Context, cfg Config, log zerolog.Logger) (*Rules, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Rules{cfg: cfg, log: log.With().Str("component", "netrules").Logger(),
		resync: make(chan struct{}, 1), stop: make(chan struct{})}
	if cfg.NetNSPath != "" {
		f, err := os.Open(cfg.NetNSPath)
		if err != nil {
			return nil, fmt.Errorf("netrules: %w: open network namespace: %w", ErrInvalid, err)
		}
		r.ns = f
	}
	if err := r.dial(); err != nil {
		_ = r.closeFiles()
		return nil, fmt.Errorf("netrules: %w: %w", ErrUnsupported, err)
	}
	if r.features, err = r.selfCheck(ctx); err != nil {
		_ = r.closeFiles()
		return nil, err
	}
	if err := r.watchDrift(); err != nil {
		r.log.Warn().Err(err).Msg("a table changed by another process is repaired only by the periodic full sync")
	}
	if cfg.FullSyncPeriod == 0 {
		cfg.FullSyncPeriod = DefaultFullSyncPeriod
	}
	if cfg.FullSyncPeriod > 0 {
		go r.fullSyncTicker(cfg.FullSyncPeriod)
	}
	r.log.Debug().Strs("features", r.features).Str("table", cfg.TableName).Msg("nftables ready")
	return r, nil
}

// Features lists the kernel features the self-check found.
func (r *Rules) Features() []string { return r.features }

// Close releases the netlink socket; the table stays.
func (r *Rules) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	close(r.stop)
	var err error
	if r.monitor != nil {
		err = r.monitor.Close()
	}
	return errors.Join(err, r.closeFiles())
}

func (r *Rules) closeFiles() error {
	var err error
	if r.conn != nil {
		err = r.conn.CloseLasting()
	}
	if r.ns != nil {
		err = errors.Join(err, r.ns.Close())
	}
	return err
}

// Sync makes the table match services (with their cluster IPs already
// allocated) and pods. It computes the endpoints itself: the pods matching
// each service's selector, the target port resolved by number or by the
// pod's container port name, ready ones receiving new connections. The
// first sync and any sync after an error replace the table; the others
// change only what differs. Either way it is one netlink batch: on error
// (ErrRejected) the kernel keeps the previous rules.
func (r *Rules) Sync(ctx context.Context, services []api.Service, pods []Pod) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	start := time.Now()
	if r.dirty.Swap(false) {
		r.applied = nil
	}
	if r.cache == nil {
		r.cache = newEndpointCache()
	}
	sps, hps, skips, ok := r.cache.update(services, pods)
	if !ok {
		r.cache = nil
		var hskips []skipped
		sps, skips = servicePorts(services, pods)
		hps, hskips = hostPorts(pods)
		skips = append(skips, hskips...)
	}
	next := generate(r.cfg, sps, hps, r.applied)

	e := newEmitter(r.cfg.TableName, r.seq)
	full := r.applied == nil
	changed := 0
	if full {
		e.full(next)
	} else {
		changed = e.partial(r.applied, next)
	}
	if e.nb.err != nil {
		r.applied = nil
		return fmt.Errorf("netrules: build batch: %w", e.nb.err)
	}
	if e.nb.msgs > 0 {
		if err := r.flush(ctx, e.nb); err != nil {
			r.applied = nil
			kind := "partial"
			if full {
				kind = "full"
			}
			return fmt.Errorf("netrules: %s sync of %d messages: %w: %w", kind, e.nb.msgs, ErrRejected, err)
		}
	}
	if full || !r.routeOK {
		// A route that cannot be set leaves the rules working for every
		// node with a default route: warn, and try again next sync.
		err := r.syncServiceRoute(r.cfg.ServiceCIDR)
		if err != nil && err.Error() != r.routeErr {
			r.log.Warn().Err(err).Msg("the node's own connections to service VIPs need a default route")
		}
		r.routeOK, r.routeErr = err == nil, ""
		if err != nil {
			r.routeErr = err.Error()
		}
	}
	r.logChanges(r.applied, next, skips)
	r.applied = next
	r.synced = syncRecord{rs: next, full: full, at: time.Now()}
	r.log.Debug().Bool("full", full).Int("messages", e.nb.msgs).Int("chainsChanged", changed).
		Dur("took", time.Since(start)).Msg("rules synced")
	return nil
}

// logChanges reports skipped services and map conflicts when they first
// appear, not on every sync.
func (r *Rules) logChanges(prev, next *ruleset, skips []skipped) {
	seen := map[string]bool{}
	if prev != nil {
		for _, c := range prev.conflicts {
			seen[c] = true
		}
	}
	for _, c := range next.conflicts {
		if !seen[c] {
			r.log.Warn().Str("conflict", c).Msg("map key claimed twice, first claim kept")
		}
	}
	for _, s := range skips {
		if prev == nil {
			r.log.Warn().Str("object", s.what).Str("reason", s.why).Msg("not programmed")
		}
	}
	next.conflicts = append(next.conflicts, skipTexts(skips)...)
}

func skipTexts(skips []skipped) []string {
	out := make([]string, len(skips))
	for i, s := range skips {
		out[i] = s.what + ": " + s.why
	}
	return out
}

// flush sends a batch. The socket's buffers are sized for it first: the
// kernel takes the batch as one message, and queues an error for every
// failing request before we read any (nft does the same).
func (r *Rules) flush(ctx context.Context, nb *nlBatch) error {
	last := nb.finish()
	r.seq = nb.seq
	if err := r.setBuffers(max(len(nb.b)+4096, 1<<20)); err != nil {
		return err
	}
	if r.nl == nil {
		return errors.New("netlink socket closed")
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = r.nl.SetDeadline(dl)
		defer func() { _ = r.nl.SetDeadline(time.Time{}) }()
	}
	rc, err := r.nl.SyscallConn()
	if err != nil {
		return err
	}
	return sendBatch(rc, nb.b, nb.first, last)
}

func (r *Rules) setBuffers(size int) error {
	if r.nl == nil {
		return nil
	}
	rc, err := r.nl.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = errors.Join(
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size),
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size))
	})
	if err = errors.Join(err, serr); err != nil {
		return fmt.Errorf("netrules: size netlink buffers: %w", err)
	}
	return nil
}

// dial opens the lasting netlink socket every operation uses.
func (r *Rules) dial() error {
	opts := []nftables.ConnOption{nftables.AsLasting(), nftables.WithSockOptions(func(c *netlink.Conn) error {
		r.nl = c
		// Acks without the request echoed back: a full sync gets one per
		// message.
		return c.SetOption(netlink.CapAcknowledge, true)
	})}
	if r.ns != nil {
		opts = append(opts, nftables.WithNetNSFd(int(r.ns.Fd())))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	r.conn = c
	return nil
}

// Cleanup deletes the table, and nothing else. The next Sync re-creates it.
func (r *Rules) Cleanup(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	nb := newBatch(r.cfg.TableName, r.seq)
	nb.addTable() // so that the delete succeeds when there is no table
	nb.delTable()
	r.applied = nil
	r.synced = syncRecord{}
	r.routeOK = false
	if err := r.flush(ctx, nb); err != nil {
		return fmt.Errorf("netrules: delete table %s: %w: %w", r.cfg.TableName, ErrRejected, err)
	}
	// Every route of ours, whatever the service CIDR was.
	if err := r.syncServiceRoute(netip.Prefix{}); err != nil {
		return err
	}
	r.log.Info().Str("table", r.cfg.TableName).Msg("rules removed")
	return nil
}
