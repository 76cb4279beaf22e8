package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/outpost-edge/outpost/api"
	bolt "go.etcd.io/bbolt"
)

// maxNameLen bounds pod and service names used as keys. api allows far less
// (253); the bound only keeps keys well inside bbolt's limit.
const maxNameLen = 1024

// errRollback ends an update that changes nothing without a commit (and its fsync).
var errRollback = errors.New("rollback")

// ApplyResult says what an Apply did.
type ApplyResult struct {
	Source Source
	// Previous is the generation stored before (0: the source was new).
	Previous int64
	// Generation is the generation stored now.
	Generation int64
	// Changed is false when the document's generation equals the stored one:
	// nothing was written and watchers were not woken.
	Changed bool
	// Added and Removed name the pods that entered and left the source, sorted.
	Added, Removed []string
	// Reset: the document's resetFrom matched the stored generation, which
	// the document's lower (or equal) generation replaced.
	Reset bool
}

// DesiredPod is a pod of the merged view.
type DesiredPod struct {
	Source Source
	// UID was minted when the pod was first accepted into Source.
	UID string
	Pod api.Pod
}

// DesiredService is a service of the merged view.
type DesiredService struct {
	Source  Source
	Service api.Service
}

// Conflict kinds.
const (
	KindPod     = "pod"
	KindService = "service"
)

// Conflict is a name carried by two sources; Winner comes first in merge order
// and is in the merged view, Loser is left out.
type Conflict struct {
	Kind   string
	Name   string
	Winner Source
	Loser  Source
}

// Merged is the desired state of the node: every source's pods and services,
// name clashes resolved by merge order (see the package doc).
type Merged struct {
	// Generations holds the generation of every source, read in the same
	// transaction as the pods and services.
	Generations map[Source]int64
	// Pods and Services are sorted by name.
	Pods     []DesiredPod
	Services []DesiredService
	// Conflicts are sorted by kind and name, losers in merge order.
	Conflicts []Conflict
	// Reclaimed are pods found running after the store was lost whose
	// source has not sent a document since (see Reclaim): not desired yet,
	// not to be stopped either.
	Reclaimed []ReclaimedPod
}

type encoded struct {
	name string
	data []byte
}

// Apply makes doc the desired state of src in one transaction. A generation
// lower than the stored one fails with ErrStale; an equal one changes nothing
// (a document delivered again), unless its pods or services differ from the
// stored ones: two documents with one generation, the second fails with
// ErrStale. A higher one replaces all of src's pods and services. Pods keep their uid
// while they stay in src; a pod new to src gets a new uid.
//
// A document whose ResetFrom is the stored generation replaces src whatever
// its own generation (a generation reset); with any other stored generation
// ResetFrom changes nothing. Whether a reset may be honoured (it must be
// signed) is the caller's policy. Generations run from 1 to api.MaxGeneration.
func (s *Store) Apply(ctx context.Context, src Source, doc *api.NodeState) (ApplyResult, error) {
	if err := src.Validate(); err != nil {
		return ApplyResult{}, fmt.Errorf("store: apply: %w", err)
	}
	if doc == nil {
		return ApplyResult{}, fmt.Errorf("store: apply %s: %w: no document", src, ErrInvalid)
	}
	if doc.Generation <= 0 || doc.Generation > api.MaxGeneration {
		return ApplyResult{}, fmt.Errorf("store: apply %s: %w: generation %d, want 1 to %d", src, ErrInvalid, doc.Generation, int64(api.MaxGeneration))
	}
	// Encode before the transaction: the single writer stays short.
	pods, err := encodeAll(doc.Pods, func(p *api.Pod) string { return p.Metadata.Name })
	if err != nil {
		return ApplyResult{}, fmt.Errorf("store: apply %s generation %d: pod %w", src, doc.Generation, err)
	}
	services, err := encodeAll(doc.Services, func(v *api.Service) string { return v.Metadata.Name })
	if err != nil {
		return ApplyResult{}, fmt.Errorf("store: apply %s generation %d: service %w", src, doc.Generation, err)
	}

	res := ApplyResult{Source: src, Generation: doc.Generation}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		return applyTx(tx, src, doc.Generation, doc.ResetFrom, digest(pods, services), pods, services, &res)
	})
	if errors.Is(err, errRollback) {
		return res, nil
	}
	if err != nil {
		return ApplyResult{}, err
	}
	s.desiredWatch.wake()
	s.log.Info().Str("source", string(src)).Int64("generation", res.Generation).Int64("previous", res.Previous).
		Int("pods", len(pods)).Int("services", len(services)).Strs("added", res.Added).Strs("removed", res.Removed).
		Bool("reset", res.Reset).Msg("desired state applied")
	return res, nil
}

func applyTx(tx *bolt.Tx, src Source, gen, resetFrom int64, sum []byte, pods, services []encoded, res *ApplyResult) error {
	sources := tx.Bucket(bucketSources)
	key := []byte(src)
	uids := map[string]string{}
	if b := sources.Bucket(key); b != nil {
		res.Previous = readGeneration(b)
		switch {
		case resetFrom != 0 && resetFrom == res.Previous && gen <= res.Previous:
			res.Reset = true
		case gen < res.Previous:
			return fmt.Errorf("store: apply %s: %w: document generation %d is older than stored generation %d",
				src, ErrStale, gen, res.Previous)
		case gen == res.Previous:
			if stored := b.Get(keyDigest); stored != nil && !bytes.Equal(stored, sum) {
				return fmt.Errorf("store: apply %s: %w: generation %d is stored already, with other pods or services: a changed document needs a higher generation",
					src, ErrStale, gen)
			}
			return errRollback
		}
		if ub := b.Bucket(bucketUIDs); ub != nil {
			_ = ub.ForEach(func(k, v []byte) error { uids[string(k)] = string(v); return nil })
		}
		if err := sources.DeleteBucket(key); err != nil {
			return err
		}
	}
	b, err := sources.CreateBucket(key)
	if err != nil {
		return err
	}
	if err := b.Put(keyGeneration, u64(uint64(gen))); err != nil {
		return err
	}
	if err := b.Put(keyDigest, sum); err != nil {
		return err
	}
	pb, err := b.CreateBucket(bucketPods)
	if err != nil {
		return err
	}
	ub, err := b.CreateBucket(bucketUIDs)
	if err != nil {
		return err
	}
	for _, p := range pods {
		uid, kept := uids[p.name]
		switch {
		case kept:
			delete(uids, p.name)
		case reclaimedUID(tx, src, p.name) != "":
			uid = reclaimedUID(tx, src, p.name)
			res.Added = append(res.Added, p.name)
		default:
			uid = newUID()
			res.Added = append(res.Added, p.name)
		}
		if err := pb.Put([]byte(p.name), p.data); err != nil {
			return err
		}
		if err := ub.Put([]byte(p.name), []byte(uid)); err != nil {
			return err
		}
	}
	if err := forgetReclaimed(tx, src); err != nil {
		return err
	}
	for name := range uids {
		res.Removed = append(res.Removed, name)
	}
	slices.Sort(res.Added)
	slices.Sort(res.Removed)
	sb, err := b.CreateBucket(bucketServices)
	if err != nil {
		return err
	}
	for _, v := range services {
		if err := sb.Put([]byte(v.name), v.data); err != nil {
			return err
		}
	}
	res.Changed = true
	return nil
}

// digest identifies a source's content: its pods and services as encoded,
// by name (their order in the document does not matter).
func digest(pods, services []encoded) []byte {
	h := sha256.New()
	for _, list := range [][]encoded{pods, services} {
		list = slices.Clone(list)
		slices.SortFunc(list, func(a, b encoded) int { return strings.Compare(a.name, b.name) })
		for _, e := range list {
			_ = binary.Write(h, binary.BigEndian, uint32(len(e.name)))
			h.Write([]byte(e.name))
			_ = binary.Write(h, binary.BigEndian, uint32(len(e.data)))
			h.Write(e.data)
		}
		h.Write([]byte{0xff})
	}
	return h.Sum(nil)
}

// encodeAll marshals items to JSON and checks their names can be keys:
// present, bounded and unique within the document.
func encodeAll[T any](items []T, name func(*T) string) ([]encoded, error) {
	out := make([]encoded, 0, len(items))
	seen := make(map[string]bool, len(items))
	for i := range items {
		n := name(&items[i])
		switch {
		case n == "":
			return nil, fmt.Errorf("#%d: %w: no name", i, ErrInvalid)
		case len(n) > maxNameLen:
			return nil, fmt.Errorf("#%d: %w: name longer than %d bytes", i, ErrInvalid, maxNameLen)
		case seen[n]:
			return nil, fmt.Errorf("%q: %w: name appears twice in the document", n, ErrInvalid)
		}
		seen[n] = true
		data, err := json.Marshal(&items[i])
		if err != nil {
			return nil, fmt.Errorf("%q: %w: encode: %w", n, ErrInvalid, err)
		}
		out = append(out, encoded{name: n, data: data})
	}
	return out, nil
}

// newUID returns 16 random bytes in hex.
func newUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it aborts the program instead)
	return hex.EncodeToString(b[:])
}

func readGeneration(b *bolt.Bucket) int64 {
	v := b.Get(keyGeneration)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// DeleteSource forgets src's desired state; its pods leave the merged view.
// Deleting a source that is not stored does nothing. Its generation is
// forgotten too: the next document for src is accepted whatever its generation.
func (s *Store) DeleteSource(ctx context.Context, src Source) error {
	if err := src.Validate(); err != nil {
		return fmt.Errorf("store: delete source: %w", err)
	}
	var gen int64
	err := s.update(ctx, func(tx *bolt.Tx) error {
		sources := tx.Bucket(bucketSources)
		b := sources.Bucket([]byte(src))
		if b == nil {
			return errRollback
		}
		gen = readGeneration(b)
		if err := forgetReclaimed(tx, src); err != nil {
			return err
		}
		return sources.DeleteBucket([]byte(src))
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	if err != nil {
		return err
	}
	s.desiredWatch.wake()
	s.log.Info().Str("source", string(src)).Int64("generation", gen).Msg("desired state deleted")
	return nil
}

// Generations returns the stored generation of every source.
func (s *Store) Generations(ctx context.Context) (map[Source]int64, error) {
	gens := map[Source]int64{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSources).ForEachBucket(func(k []byte) error {
			gens[Source(k)] = readGeneration(tx.Bucket(bucketSources).Bucket(k))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return gens, nil
}

// SourceDocument returns what src holds: its generation, pods and services
// by name, including those another source wins in the merged view (Desired
// leaves a conflict's loser out). The error wraps ErrNotFound when src has
// nothing stored.
func (s *Store) SourceDocument(ctx context.Context, src Source) (*api.NodeState, error) {
	var gen int64
	var pods, services []rawEntry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSources).Bucket([]byte(src))
		if b == nil {
			return fmt.Errorf("store: source %s: %w", src, ErrNotFound)
		}
		gen = readGeneration(b)
		m := &Merged{}
		pods = collect(m, KindPod, src, b.Bucket(bucketPods), nil, map[string]Source{}, nil)
		services = collect(m, KindService, src, b.Bucket(bucketServices), nil, map[string]Source{}, nil)
		return nil
	})
	if err != nil {
		return nil, err
	}
	doc := &api.NodeState{TypeMeta: api.TypeMeta{APIVersion: api.GroupVersion, Kind: api.KindNodeState}, Generation: gen,
		Pods: make([]api.Pod, len(pods)), Services: make([]api.Service, len(services))}
	for i, e := range pods {
		if err := json.Unmarshal(e.data, &doc.Pods[i]); err != nil {
			return nil, fmt.Errorf("store: source %s pod %q: decode: %w", src, e.name, err)
		}
	}
	for i, e := range services {
		if err := json.Unmarshal(e.data, &doc.Services[i]); err != nil {
			return nil, fmt.Errorf("store: source %s service %q: decode: %w", src, e.name, err)
		}
	}
	return doc, nil
}

// Desired returns the merged view of all sources, read in one transaction.
// The transaction only copies the raw documents; decoding happens after it.
func (s *Store) Desired(ctx context.Context) (*Merged, error) {
	m := &Merged{Generations: map[Source]int64{}}
	var pods, services []rawEntry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		sources := tx.Bucket(bucketSources)
		var order []Source
		_ = sources.ForEachBucket(func(k []byte) error {
			order = append(order, Source(k))
			return nil
		})
		s.sortSources(order)
		podOwner := map[string]Source{}
		svcOwner := map[string]Source{}
		for _, src := range order {
			b := sources.Bucket([]byte(src))
			m.Generations[src] = readGeneration(b)
			uids := b.Bucket(bucketUIDs)
			pods = collect(m, KindPod, src, b.Bucket(bucketPods), uids, podOwner, pods)
			services = collect(m, KindService, src, b.Bucket(bucketServices), nil, svcOwner, services)
		}
		m.Reclaimed = reclaimedPods(tx)
		return nil
	})
	if err != nil {
		return nil, err
	}
	byName := func(a, b rawEntry) int { return strings.Compare(a.name, b.name) }
	slices.SortFunc(pods, byName)
	slices.SortFunc(services, byName)
	m.Pods = make([]DesiredPod, len(pods))
	for i, e := range pods {
		m.Pods[i] = DesiredPod{Source: e.src, UID: e.uid}
		if err := json.Unmarshal(e.data, &m.Pods[i].Pod); err != nil {
			return nil, fmt.Errorf("store: source %s pod %q: decode: %w", e.src, e.name, err)
		}
	}
	m.Services = make([]DesiredService, len(services))
	for i, e := range services {
		m.Services[i] = DesiredService{Source: e.src}
		if err := json.Unmarshal(e.data, &m.Services[i].Service); err != nil {
			return nil, fmt.Errorf("store: source %s service %q: decode: %w", e.src, e.name, err)
		}
	}
	// Stable: losers of one name stay in merge order.
	slices.SortStableFunc(m.Conflicts, func(a, b Conflict) int {
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return m, nil
}

// rawEntry is a stored pod or service copied out of a read transaction.
type rawEntry struct {
	src       Source
	name, uid string
	data      []byte
}

// collect appends the entries of bucket b whose names no earlier source took,
// and records the others as conflicts.
func collect(m *Merged, kind string, src Source, b, uids *bolt.Bucket, owner map[string]Source, out []rawEntry) []rawEntry {
	if b == nil {
		return out
	}
	_ = b.ForEach(func(k, v []byte) error {
		name := string(k)
		if winner, taken := owner[name]; taken {
			m.Conflicts = append(m.Conflicts, Conflict{Kind: kind, Name: name, Winner: winner, Loser: src})
			return nil
		}
		owner[name] = src
		e := rawEntry{src: src, name: name, data: bytes.Clone(v)}
		if uids != nil {
			e.uid = string(uids.Get(k))
		}
		out = append(out, e)
		return nil
	})
	return out
}
