// Package mqttlink is the node's link to its control plane: one MQTT
// connection (tcp, TLS with optional client certificate, websockets) that
// receives desired-state documents into the store (sync/desired) and sends
// status snapshots and the outbox (sync/report), driven through
// reconnections by a jittered backoff (internal/backoff). It only reads and
// writes the store and talks to the broker; it never calls the agent.
//
// Reconnection is driven here, not by paho: paho's auto-reconnect doubles a
// fixed delay without jitter, so a fleet that lost its broker at one instant
// would come back at one instant. Each attempt builds a fresh paho client
// (auto-reconnect and connect-retry off) over the same persistent session
// (clean session off, client id = node name, in-flight packets in the
// store's session bucket), so nothing paho keeps in memory outlives a
// connection.
package mqttlink

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/internal/backoff"
	"github.com/outpost-edge/outpost/internal/clock"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/desired"
	"github.com/outpost-edge/outpost/sync/protocol"
	"github.com/outpost-edge/outpost/sync/report"
)

// Errors a connection ends with (State.LastError).
var (
	// ErrConnect: no broker accepted the connection.
	ErrConnect = errors.New("connect failed")
	// ErrConnectionLost: an established connection broke.
	ErrConnectionLost = errors.New("connection lost")
)

// Link states.
const (
	StateWaiting    = "waiting" // backing off before the next attempt
	StateConnecting = "connecting"
	StateConnected  = "connected"
	StateStopped    = "stopped"
)

// State is what `outpost status` shows of the link.
type State struct {
	State string `json:"state"`
	// Broker is the broker URL of the current or last attempt.
	Broker string    `json:"broker,omitempty"`
	Since  time.Time `json:"since"`
	// LastConnect and LastDisconnect are zero until they happen.
	LastConnect    time.Time `json:"lastConnect,omitzero"`
	LastDisconnect time.Time `json:"lastDisconnect,omitzero"`
	LastError      string    `json:"lastError,omitempty"`
	// Failures counts attempts and losses since the last stable connection.
	Failures    int       `json:"failures"`
	NextAttempt time.Time `json:"nextAttempt,omitzero"`
	// Signed is true when trusted keys are configured.
	Signed        bool                 `json:"signed"`
	OutboxDepth   int                  `json:"outboxDepth"`
	OutboxBytes   int64                `json:"outboxBytes"`
	OutboxDropped uint64               `json:"outboxDropped"`
	Reports       report.Counters      `json:"reports"`
	DeadLetters   []desired.DeadLetter `json:"deadLetters,omitempty"`
	// Ignored counts messages on topics this node does not read (a group
	// subscription an older configuration left in the broker's session),
	// acknowledged and dropped; the link unsubscribes from them.
	Ignored int `json:"ignored,omitempty"`
	// NameConflict is set once another device was seen claiming this
	// node's name; it stays until the agent restarts.
	NameConflict *NameConflict `json:"nameConflict,omitempty"`
	// ConflictDropped counts documents acknowledged and not applied
	// because of the name conflict.
	ConflictDropped int `json:"conflictDropped,omitempty"`
}

// Params identify the node to the link.
type Params struct {
	NodeName string
	// Groups are the node's groups (the agent config's groups).
	Groups       []string
	AgentVersion string
	// InstanceID tells this device from another one claiming NodeName
	// (agent/identity); empty turns the name conflict detection off.
	InstanceID string
	Logger     zerolog.Logger
	// Clock defaults to the wall clock.
	Clock clock.Clock
}

// Link is the node's MQTT link. Run it once.
type Link struct {
	st     *store.Store
	cfg    Config
	p      Params
	topics protocol.Topics
	groups map[string]bool
	keys   protocol.Keys
	log    zerolog.Logger

	recv    *desired.Receiver
	status  *report.Status
	drainer *report.Drainer

	conflict conflictWatch

	// subscribed is set once this process subscribed; later connections
	// with a session present keep the broker's subscriptions.
	subscribed bool

	mu    sync.Mutex
	state State
	// unsubscribed holds the stale group topics unsubscribed from (true)
	// or being unsubscribed from (false).
	unsubscribed map[string]bool
}

// New checks cfg (defaults filled in for zero fields) and returns a link
// over st for the node p.NodeName.
func New(st *store.Store, cfg Config, p Params) (*Link, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, fmt.Errorf("%w: mqtt.brokers: no broker configured", ErrInvalid)
	}
	topics, err := protocol.NewTopics(cfg.Prefix, p.NodeName)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	groups := map[string]bool{}
	for _, g := range p.Groups {
		if err := protocol.ValidLevel(g); err != nil {
			return nil, fmt.Errorf("%w: group %q: %w", ErrInvalid, g, err)
		}
		if _, err := store.GroupSource(g); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		groups[g] = true
	}
	keys, err := protocol.ParseKeys(cfg.TrustedKeys)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if _, err := cfg.tlsConfig(); err != nil {
		return nil, err
	}
	if p.Clock == nil {
		p.Clock = clock.Real{}
	}
	log := p.Logger
	if reflect.ValueOf(log).IsZero() {
		log = zerolog.Nop()
	}
	l := &Link{
		st: st, cfg: cfg, p: p, topics: topics, groups: groups, keys: keys,
		log:          log.With().Str("component", "mqttlink").Logger(),
		unsubscribed: map[string]bool{},
		conflict:     conflictWatch{mine: p.InstanceID, detected: make(chan struct{})},
	}
	l.recv = desired.New(st, desired.Options{Keys: keys, DeadLetters: cfg.DeadLetters, Now: p.Clock.Now, Logger: log})
	l.status = report.NewStatus(st, report.StatusOptions{Node: p.NodeName, AgentVersion: p.AgentVersion, Topics: topics,
		Interval: cfg.StatusInterval, Heartbeat: cfg.Heartbeat, Clock: p.Clock, Logger: log})
	l.drainer = report.NewDrainer(st, topics, 0, log, nil)
	l.state = State{State: StateWaiting, Since: p.Clock.Now(), Signed: len(keys) > 0, Broker: cfg.Brokers[0]}
	return l, nil
}

// Topics are the link's topic names.
func (l *Link) Topics() protocol.Topics { return l.topics }

// State returns the link's state, with the outbox figures read now.
func (l *Link) State() State {
	l.mu.Lock()
	s := l.state
	l.mu.Unlock()
	if st, err := l.st.OutboxStats(context.Background()); err == nil {
		s.OutboxDepth, s.OutboxBytes, s.OutboxDropped = st.Depth, st.Bytes, st.Dropped
	}
	s.Reports = l.status.Counters()
	s.DeadLetters = l.recv.DeadLetters()
	return s
}

func (l *Link) setState(fn func(s *State)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fn(&l.state)
}

// Run connects and keeps connecting until ctx is done; it returns nil then.
// Attempts are spaced by the backoff, the first one too (by up to
// Backoff.Min): a site whose power comes back boots its nodes together.
func (l *Link) Run(ctx context.Context) error {
	if len(l.keys) == 0 {
		l.log.Warn().Msg("no trusted keys configured: unsigned desired-state documents are accepted")
	}
	pol := &backoff.Policy{Min: l.cfg.Backoff.Min, Max: l.cfg.Backoff.Max, Reset: l.cfg.Backoff.Reset}
	first := true
	for {
		var delay time.Duration
		if first {
			delay = (&backoff.Policy{Min: l.cfg.Backoff.Min, Max: l.cfg.Backoff.Min}).Next()
			first = false
		} else {
			delay = pol.Next()
		}
		next := l.p.Clock.Now().Add(delay)
		l.setState(func(s *State) {
			s.State, s.Since, s.NextAttempt, s.Failures = StateWaiting, l.p.Clock.Now(), next, pol.Failures()
		})
		select {
		case <-ctx.Done():
			l.setState(func(s *State) { s.State, s.Since, s.NextAttempt = StateStopped, l.p.Clock.Now(), time.Time{} })
			return nil
		case <-l.p.Clock.After(delay):
		}
		reconcile(ctx, l.st, l.topics, l.log)
		up, err := l.connection(ctx)
		if ctx.Err() != nil {
			l.setState(func(s *State) { s.State, s.Since, s.NextAttempt = StateStopped, l.p.Clock.Now(), time.Time{} })
			return nil
		}
		if up > 0 {
			pol.Connected(up)
		}
		if err != nil {
			l.log.Warn().Err(err).Dur("up", up).Int("failures", pol.Failures()+1).Msg("mqtt link down")
			l.setState(func(s *State) { s.LastError = err.Error() })
		}
	}
}
