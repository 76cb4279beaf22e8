package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Defaults applied by Open to zero Options fields.
var (
	DefaultServiceCIDR = netip.MustParsePrefix("10.43.0.0/16")
)

const (
	DefaultEventsKeep     = 1000
	DefaultOutboxMaxCount = 10000
	DefaultOutboxMaxBytes = 8 << 20
	DefaultLockTimeout    = time.Second
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// Logger receives the store's logs; the zero value logs nothing.
	Logger zerolog.Logger
	// Groups orders the remote:group/<name> sources in the merged view: the
	// first listed wins a name clash. Groups not listed come after, lexically.
	Groups []string
	// ServiceCIDR is the pool of service cluster IPs (default 10.43.0.0/16).
	// Changing it keeps allocations inside the new prefix and moves the others
	// on their next AllocateClusterIP.
	ServiceCIDR netip.Prefix
	// EventsKeep bounds the ring of recent events (default 1000).
	EventsKeep int
	// OutboxMaxCount and OutboxMaxBytes bound the outbox (default 10000
	// messages, 8 MiB); past either bound the oldest messages are dropped.
	OutboxMaxCount int
	OutboxMaxBytes int64
	// LockTimeout is how long Open waits for another process to release the
	// file before it fails with ErrLocked (default 1s).
	LockTimeout time.Duration
	// CheckTimeout bounds the check of an existing file at Open (default
	// DefaultCheckTimeout); a file not checked in time counts as corrupt.
	CheckTimeout time.Duration
	// MoveCorrupt makes Open move a corrupt file aside and start an empty
	// one (see Recovered) instead of failing with ErrCorrupt.
	MoveCorrupt bool
	// Now is the clock for the name of a file moved aside (default time.Now).
	Now func() time.Time
}

// Store is the agent's bbolt state file. Its methods are safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	opts Options
	log  zerolog.Logger
	// groupRank orders the groups listed in Options.Groups.
	groupRank map[string]int

	desiredWatch notifier
	outboxWatch  notifier

	closeOnce sync.Once
	closed    chan struct{}

	batches batcher

	recovery    *Recovery
	corruptOnce sync.Once
	corruptErr  atomic.Pointer[error]
	corrupted   chan struct{}
}

// Open opens (creating if needed) the state file at path, migrates its schema
// to the current version in the opening transaction, and fails with ErrLocked
// when another process holds the file. An existing file is checked first (see
// verifyFile); a corrupt one fails with ErrCorrupt, or is moved aside with
// Options.MoveCorrupt.
func Open(path string, opts Options) (*Store, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if reflect.ValueOf(log).IsZero() {
		log = zerolog.Nop()
	}
	log = log.With().Str("component", "store").Logger()

	var rec *Recovery
	cause := verifyFile(path, opts.CheckTimeout, opts.LockTimeout)
	if cause == nil {
		cause = markedCorrupt(path)
	}
	switch {
	case cause == nil:
	case !errors.Is(cause, ErrCorrupt) || !opts.MoveCorrupt:
		return nil, cause
	default:
		if rec, err = moveAside(path, cause, opts.Now()); err != nil {
			return nil, err
		}
		log.Error().Err(cause).Str("path", path).Str("movedTo", rec.Aside).Msg("state file is corrupt: moved aside, starting with an empty one")
	}

	db, from, err := openBolt(path, opts)
	if errors.Is(err, ErrCorrupt) && opts.MoveCorrupt && rec == nil {
		// Damage the check cannot see (a value, such as the schema
		// version) or that bbolt panicked on all the same.
		cause := err
		if rec, err = moveAside(path, cause, opts.Now()); err != nil {
			return nil, err
		}
		log.Error().Err(cause).Str("path", path).Str("movedTo", rec.Aside).Msg("state file is corrupt: moved aside, starting with an empty one")
		db, from, err = openBolt(path, opts)
	}
	if err != nil {
		return nil, leaveMarker(path, err)
	}
	if from != schemaVersion {
		log.Info().Str("path", path).Uint64("from", from).Uint64("to", schemaVersion).Msg("state file schema migrated")
	}

	rank := make(map[string]int, len(opts.Groups))
	for i, g := range opts.Groups {
		if _, dup := rank[g]; !dup {
			rank[g] = i
		}
	}
	s := &Store{
		db:        db,
		path:      path,
		opts:      opts,
		log:       log,
		groupRank: rank,
		closed:    make(chan struct{}),
		recovery:  rec,
		corrupted: make(chan struct{}),
	}
	log.Debug().Str("path", path).Msg("state file opened")
	return s, nil
}

// openBolt opens the file for writing and migrates it, under protect.
func openBolt(path string, opts Options) (*bolt.DB, uint64, error) {
	var db *bolt.DB
	err := protect(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
		return err
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, 0, fmt.Errorf("store: %w: another outpost agent holds %s (waited %s); stop it first or use another data directory",
			ErrLocked, path, opts.LockTimeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, 0, corrupt(path, fmt.Errorf("not a readable bbolt file: %w", err))
	case err != nil:
		return nil, 0, fmt.Errorf("store: open %s: %w", path, err)
	}
	var from uint64
	err = protect(func() error {
		return db.Update(func(tx *bolt.Tx) error {
			var err error
			from, err = migrate(tx, path, schemaVersion, migrations)
			return err
		})
	})
	if err != nil {
		_ = db.Close()
		return nil, 0, err
	}
	return db, from, nil
}

func withDefaults(o Options) (Options, error) {
	if !o.ServiceCIDR.IsValid() {
		o.ServiceCIDR = DefaultServiceCIDR
	}
	o.ServiceCIDR = o.ServiceCIDR.Masked()
	if _, _, ok := ipRange(o.ServiceCIDR); !ok {
		return o, fmt.Errorf("store: %w: service CIDR %s has no address to allocate", ErrInvalid, o.ServiceCIDR)
	}
	for _, g := range o.Groups {
		if err := validGroupName(g); err != nil {
			return o, fmt.Errorf("store: options: group %q: %w", g, err)
		}
	}
	if o.EventsKeep < 0 || o.OutboxMaxCount < 0 || o.OutboxMaxBytes < 0 || o.LockTimeout < 0 {
		return o, fmt.Errorf("store: %w: negative bound in options", ErrInvalid)
	}
	if o.EventsKeep == 0 {
		o.EventsKeep = DefaultEventsKeep
	}
	if o.OutboxMaxCount == 0 {
		o.OutboxMaxCount = DefaultOutboxMaxCount
	}
	if o.OutboxMaxBytes == 0 {
		o.OutboxMaxBytes = DefaultOutboxMaxBytes
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = DefaultCheckTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// Path is the state file's path.
func (s *Store) Path() string { return s.path }

// Close closes every watcher channel and then the file. It waits for running
// transactions to finish.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		s.desiredWatch.closeAll()
		s.outboxWatch.closeAll()
		err = s.db.Close()
	})
	return err
}

// view runs fn in a read transaction. Never call view or update from fn.
func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	return s.guard(ctx, func() error { return s.db.View(fn) })
}

// update runs fn in the write transaction; fn's error rolls it back. Never
// call view or update from fn, and keep fn short: bbolt has one writer.
func (s *Store) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	return s.guard(ctx, func() error { return s.db.Update(fn) })
}

// guard runs a transaction so that a damaged page cannot take the process
// down: bbolt panics (or reads out of its map) on one, at any read or write
// after a clean-looking open. The panic becomes ErrCorrupt, the store stops
// using the file and the next Open moves it aside. bbolt rolls the
// transaction back on the way out of the panic.
func (s *Store) guard(ctx context.Context, tx func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.failed(); err != nil {
		return err
	}
	err := protect(tx)
	if errors.Is(err, ErrCorrupt) {
		s.markCorrupt(err)
	}
	return err
}
