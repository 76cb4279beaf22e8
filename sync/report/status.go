package report

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/clock"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// StatusStore is what the status reporter reads.
type StatusStore interface {
	Generations(ctx context.Context) (map[store.Source]int64, error)
	Desired(ctx context.Context) (*store.Merged, error)
	ClusterIPs(ctx context.Context) (map[string]netip.Addr, error)
	PodStatuses(ctx context.Context) ([]api.PodStatus, error)
	NodeStatus(ctx context.Context) ([]byte, error)
}

// StatusOptions configure a Status reporter.
type StatusOptions struct {
	Node         string
	AgentVersion string
	Topics       protocol.Topics
	// Interval is the shortest time between two snapshots (the store is read
	// once per interval; changes within it coalesce into one message).
	Interval time.Duration
	// Heartbeat is the longest silence: with nothing changed, a Heartbeat
	// is published this long after the last message.
	Heartbeat time.Duration
	Clock     clock.Clock
	Logger    zerolog.Logger
}

// Status publishes status snapshots. Run is called once per connection; the
// reporter remembers across connections what it last sent.
type Status struct {
	st   StatusStore
	opts StatusOptions
	log  zerolog.Logger

	// Cached desired-state summary, re-read when a generation moves.
	gens      map[store.Source]int64
	services  []protocol.ServiceSummary
	conflicts []protocol.Conflict

	mu       sync.Mutex
	lastHash string
	lastSent time.Time
	sent     Counters
}

// Counters count what the reporter published.
type Counters struct {
	Reports, Heartbeats int
	// LastReportBytes and LastHeartbeatBytes are payload sizes.
	LastReportBytes, LastHeartbeatBytes int
}

// NewStatus returns a reporter reading st.
func NewStatus(st StatusStore, opts StatusOptions) *Status {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	log := opts.Logger
	if reflect.ValueOf(log).IsZero() {
		log = zerolog.Nop()
	}
	return &Status{st: st, opts: opts, log: log.With().Str("component", "sync/report").Logger()}
}

// Counters returns what was published so far.
func (s *Status) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// Run publishes a full snapshot at once (the broker may have lost the
// retained one), then checks every Interval and publishes a snapshot when
// its content changed, or a heartbeat after Heartbeat of silence. It returns
// when ctx is done (nil) or a publish fails.
func (s *Status) Run(ctx context.Context, pub Publisher) error {
	force := true
	for {
		if err := s.tick(ctx, pub, force); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		force = false
		select {
		case <-ctx.Done():
			return nil
		case <-s.opts.Clock.After(s.opts.Interval):
		}
	}
}

func (s *Status) tick(ctx context.Context, pub Publisher, force bool) error {
	rep, err := s.Snapshot(ctx)
	if err != nil {
		// A store read failure is logged and retried next interval; it is
		// no reason to drop the connection.
		s.log.Error().Err(err).Msg("reading status snapshot")
		return nil
	}
	s.mu.Lock()
	changed, quiet := rep.Hash != s.lastHash, s.opts.Clock.Now().Sub(s.lastSent)
	s.mu.Unlock()
	var (
		payload []byte
		retain  bool
	)
	switch {
	case force || changed:
		payload, err = json.Marshal(rep)
		retain = true
	case quiet >= s.opts.Heartbeat:
		payload, err = json.Marshal(protocol.Heartbeat{Kind: protocol.KindHeartbeat,
			Node: s.opts.Node, Time: rep.Time, Hash: rep.Hash})
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("encode status: %w", err)
	}
	if err := pub.Publish(s.opts.Topics.Status(), 1, retain, payload)(ctx); err != nil {
		return fmt.Errorf("publish status: %w", err)
	}
	s.mu.Lock()
	s.lastHash, s.lastSent = rep.Hash, s.opts.Clock.Now()
	if retain {
		s.sent.Reports++
		s.sent.LastReportBytes = len(payload)
	} else {
		s.sent.Heartbeats++
		s.sent.LastHeartbeatBytes = len(payload)
	}
	s.mu.Unlock()
	return nil
}

// Snapshot reads the status report from the store and hashes its content.
func (s *Status) Snapshot(ctx context.Context) (*protocol.NodeReport, error) {
	gens, err := s.st.Generations(ctx)
	if err != nil {
		return nil, err
	}
	if s.gens == nil || !maps.Equal(gens, s.gens) {
		if err := s.readDesired(ctx); err != nil {
			return nil, err
		}
		s.gens = gens
	}
	// Cluster IPs are read every time: the agent allocates them after the
	// document that named the service was stored, without a new generation.
	ips, err := s.st.ClusterIPs(ctx)
	if err != nil {
		return nil, err
	}
	services := make([]protocol.ServiceSummary, len(s.services))
	for i, sum := range s.services {
		if ip, ok := ips[sum.Name]; ok && sum.ClusterIP == "" {
			sum.ClusterIP = ip.String()
		}
		services[i] = sum
	}
	rep := &protocol.NodeReport{
		APIVersion: api.GroupVersion, Kind: protocol.KindNodeReport, Node: s.opts.Node,
		AgentVersion: s.opts.AgentVersion, ObservedGenerations: map[string]int64{},
		Services: services, Conflicts: s.conflicts,
	}
	for src, g := range gens {
		rep.ObservedGenerations[string(src)] = g
	}
	if rep.Pods, err = s.st.PodStatuses(ctx); err != nil {
		return nil, err
	}
	if rep.Pods == nil {
		rep.Pods = []api.PodStatus{}
	}
	switch blob, err := s.st.NodeStatus(ctx); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	case len(blob) > 0:
		var ns api.NodeStatus
		if err := json.Unmarshal(blob, &ns); err != nil {
			s.log.Warn().Err(err).Msg("stored node status is unreadable, reported without it")
		} else {
			rep.NodeStatus = &ns
		}
	}
	// The hash covers the content, not the times: a node status re-measured
	// with the same values is no change worth a message.
	var nodeTime time.Time
	if rep.NodeStatus != nil {
		nodeTime, rep.NodeStatus.Time = rep.NodeStatus.Time, time.Time{}
	}
	content, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(content)
	rep.Hash = hex.EncodeToString(sum[:12])
	if rep.NodeStatus != nil {
		rep.NodeStatus.Time = nodeTime
	}
	rep.Time = s.opts.Clock.Now().UTC()
	return rep, nil
}

func (s *Status) readDesired(ctx context.Context) error {
	m, err := s.st.Desired(ctx)
	if err != nil {
		return err
	}
	s.services = make([]protocol.ServiceSummary, 0, len(m.Services))
	for _, v := range m.Services {
		s.services = append(s.services, protocol.ServiceSummary{Name: v.Service.Metadata.Name, Source: string(v.Source), ClusterIP: v.Service.Spec.ClusterIP})
	}
	s.conflicts = nil
	for _, c := range m.Conflicts {
		s.conflicts = append(s.conflicts, protocol.Conflict{Kind: c.Kind, Name: c.Name, Winner: string(c.Winner), Loser: string(c.Loser)})
	}
	return nil
}
