// Package desired turns desired-state messages from the control plane into
// store state. A document is persisted before it is acknowledged; a document
// that can never be accepted (bad signature, bad JSON, invalid spec, too
// large, stale generation, empty) changes nothing, is reported once as a
// Warning event and is dead-lettered: acknowledged, remembered by hash, and
// silently acknowledged again if the broker delivers it again.
package desired

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// Store is what the receiver needs from the store.
type Store interface {
	Apply(ctx context.Context, src store.Source, doc *api.NodeState) (store.ApplyResult, error)
	RecordEvent(ctx context.Context, ev api.Event) error
}

// Event reasons besides the protocol's rejection reasons.
const (
	ReasonApplied = "DocumentApplied"
	ReasonStale   = "StaleGeneration"
)

// DefaultDeadLetters is how many rejected documents are remembered.
const DefaultDeadLetters = 32

// maxEventMessage bounds an event's message: a document with a thousand
// invalid fields must not make a thousand-line event.
const maxEventMessage = 2048

// DeadLetter is a rejected document the receiver remembers.
type DeadLetter struct {
	Source string    `json:"source"`
	SHA256 string    `json:"sha256"`
	Bytes  int       `json:"bytes"`
	Reason string    `json:"reason"`
	Error  string    `json:"error"`
	Time   time.Time `json:"time"`
	// Count is how many times it was delivered.
	Count int `json:"count"`
}

// Options configure a Receiver.
type Options struct {
	// Keys are the trusted signing keys; empty accepts unsigned documents.
	Keys protocol.Keys
	// DeadLetters bounds the remembered rejections (default DefaultDeadLetters).
	DeadLetters int
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger zerolog.Logger
	// Retry is the pause between attempts when the store fails (default 200ms).
	Retry time.Duration
}

// Receiver applies desired-state documents. It is safe for concurrent use,
// though the link hands it one message at a time.
type Receiver struct {
	st   Store
	opts Options
	log  zerolog.Logger

	mu   sync.Mutex
	dead []DeadLetter // oldest first
}

// New returns a receiver writing to st.
func New(st Store, opts Options) *Receiver {
	if opts.DeadLetters <= 0 {
		opts.DeadLetters = DefaultDeadLetters
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Retry <= 0 {
		opts.Retry = 200 * time.Millisecond
	}
	log := opts.Logger
	if reflect.ValueOf(log).IsZero() {
		log = zerolog.Nop()
	}
	return &Receiver{st: st, opts: opts, log: log.With().Str("component", "sync/desired").Logger()}
}

// storeAttempts bounds the tries of a failing store before the message is
// left unacknowledged (the broker redelivers it on the next connection).
const storeAttempts = 3

// ErrNotStored: the store failed; the message must not be acknowledged.
var ErrNotStored = errors.New("document not stored")

// Handle processes one message for src that arrived on topic (the full
// desired topic: a signed document must name it as its target). A nil error
// means the message may be acknowledged: it is stored, was already stored,
// or is rejected for good. An error (wrapping ErrNotStored, or ctx's) means
// it must not be.
func (r *Receiver) Handle(ctx context.Context, src store.Source, topic string, payload []byte) error {
	_, err := r.handle(ctx, src, topic, payload)
	return err
}

// handle is Handle that also tells a stored document (stored true: applied
// now or already) from one rejected for good.
func (r *Receiver) handle(ctx context.Context, src store.Source, topic string, payload []byte) (stored bool, err error) {
	sum := sha256.Sum256(payload)
	hash := hex.EncodeToString(sum[:])
	if r.seenDead(src, hash) {
		r.log.Debug().Str("source", string(src)).Str("sha256", hash).Msg("dead-lettered document delivered again, acknowledged")
		return false, nil
	}
	doc, err := protocol.Decode(payload, r.opts.Keys, topic)
	if err == nil {
		err = doc.CheckReset()
	}
	if err != nil {
		return false, r.reject(ctx, src, hash, len(payload), protocol.Reason(err), err)
	}
	var res store.ApplyResult
	for attempt := 1; ; attempt++ {
		res, err = r.st.Apply(ctx, src, doc.State)
		if err == nil || errors.Is(err, store.ErrStale) || errors.Is(err, store.ErrInvalid) || ctx.Err() != nil {
			break
		}
		if attempt == storeAttempts {
			r.log.Error().Err(err).Str("source", string(src)).Int64("generation", doc.State.Generation).
				Msg("store failed, document left unacknowledged")
			return false, fmt.Errorf("%w: %w", ErrNotStored, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(r.opts.Retry):
		}
	}
	switch {
	case ctx.Err() != nil:
		return false, ctx.Err()
	case errors.Is(err, store.ErrStale):
		return false, r.reject(ctx, src, hash, len(payload), ReasonStale, err)
	case err != nil:
		return false, r.reject(ctx, src, hash, len(payload), protocol.ErrInvalid.Error(), err)
	case !res.Changed:
		r.log.Debug().Str("source", string(src)).Int64("generation", res.Generation).Msg("document already applied")
		return true, nil
	}
	msg := fmt.Sprintf("generation %d applied (previous %d)", res.Generation, res.Previous)
	if res.Reset {
		msg = fmt.Sprintf("generation %d applied, a reset from generation %d", res.Generation, res.Previous)
	}
	if len(res.Added) > 0 {
		msg += "; pods added: " + strings.Join(res.Added, ", ")
	}
	if len(res.Removed) > 0 {
		msg += "; pods removed: " + strings.Join(res.Removed, ", ")
	}
	if doc.Verified {
		msg += "; signed by key " + doc.KeyID
	}
	r.event(ctx, api.EventNormal, ReasonApplied, src, msg)
	return true, nil
}

// reject dead-letters a document and reports it; the message is acknowledged.
func (r *Receiver) reject(ctx context.Context, src store.Source, hash string, size int, reason string, cause error) error {
	dl := DeadLetter{Source: string(src), SHA256: hash, Bytes: size, Reason: reason, Error: cause.Error(), Time: r.opts.Now(), Count: 1}
	kept := r.remember(dl)
	r.log.Warn().Str("source", string(src)).Str("sha256", hash).Str("reason", reason).Err(cause).Msg("document rejected")
	// The hash comes first: a long cause is cut at maxEventMessage, and a
	// control plane matches the rejection of its document by the hash.
	msg := fmt.Sprintf("document sha256:%s (%d bytes) rejected, nothing changed; dead-lettered: acknowledged and not retried (%d rejected documents remembered): %v",
		hash[:16], size, kept, cause)
	r.event(ctx, api.EventWarning, reason, src, msg)
	return nil
}

func (r *Receiver) event(ctx context.Context, typ, reason string, src store.Source, msg string) {
	if len(msg) > maxEventMessage {
		msg = msg[:maxEventMessage-3] + "..."
	}
	ev := api.Event{Type: typ, Reason: reason, Message: msg, Object: "source/" + string(src), Time: r.opts.Now()}
	if err := r.st.RecordEvent(ctx, ev); err != nil {
		r.log.Error().Err(err).Str("reason", reason).Msg("recording event")
	}
}

func (r *Receiver) seenDead(src store.Source, hash string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.dead {
		if r.dead[i].SHA256 == hash && r.dead[i].Source == string(src) {
			r.dead[i].Count++
			return true
		}
	}
	return false
}

func (r *Receiver) remember(dl DeadLetter) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.dead) == r.opts.DeadLetters {
		r.dead = append(r.dead[:0], r.dead[1:]...)
	}
	r.dead = append(r.dead, dl)
	return len(r.dead)
}

// DeadLetters returns the remembered rejections, oldest first.
func (r *Receiver) DeadLetters() []DeadLetter {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]DeadLetter(nil), r.dead...)
}
