// Package manifests turns the static manifest directory into the store's
// "static" source: device images ship their base workloads as files there,
// and `outpost apply` writes there too.
//
// Every *.yaml, *.yml and *.json file of the directory (not its
// subdirectories; dot files are ignored) is parsed strictly. The files
// together form one NodeState, applied with the next generation whenever
// what they say changes. A file that does not parse is reported (once per
// content, the file and the field in the message) and its last good content
// stays in force, so a typo never stops a running pod. When the process has
// no good content of it (it started with the file broken), the valid files
// run and every stored static pod and service no valid file names is kept
// as stored, until the file parses again. The directory is watched with
// inotify, with a periodic rescan as a safety net.
package manifests

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
)

// Store is what the watcher needs from the store.
type Store interface {
	Apply(ctx context.Context, src store.Source, doc *api.NodeState) (store.ApplyResult, error)
	Generations(ctx context.Context) (map[store.Source]int64, error)
	SourceDocument(ctx context.Context, src store.Source) (*api.NodeState, error)
}

// ReportFunc is told about a file that does not parse (err) and about a
// file that parses again (err nil) after it did not.
type ReportFunc func(ctx context.Context, file string, err error)

// Watcher keeps the static source equal to the manifest directory.
type Watcher struct {
	dir    string
	store  Store
	report ReportFunc
	log    zerolog.Logger
	// Rescan is the safety-net period (default 30 s).
	Rescan time.Duration

	lastGood map[string]*api.NodeState // by file name
	reported map[string][32]byte       // by file name: content last reported invalid
	applied  [32]byte                  // hash of the last applied document
}

// New returns a watcher of dir.
func New(dir string, st Store, report ReportFunc, log zerolog.Logger) *Watcher {
	if report == nil {
		report = func(context.Context, string, error) {}
	}
	return &Watcher{dir: dir, store: st, report: report, log: log.With().Str("component", "manifests").Logger(),
		Rescan: 30 * time.Second, lastGood: map[string]*api.NodeState{}, reported: map[string][32]byte{}}
}

// Sync reads the directory now and applies it if it changed.
func (w *Watcher) Sync(ctx context.Context) error {
	entries, err := os.ReadDir(w.dir)
	if errors.Is(err, os.ErrNotExist) {
		entries = nil
	} else if err != nil {
		return fmt.Errorf("read manifest dir: %w", err)
	}
	seen := map[string]bool{}
	var broken []string // invalid files with no last good content
	for _, e := range entries {
		if e.IsDir() || !api.IsManifestFile(e.Name()) {
			continue
		}
		name := e.Name()
		seen[name] = true
		data, err := api.ReadManifestFile(filepath.Join(w.dir, name))
		var ns *api.NodeState
		if err == nil {
			ns, err = api.ParseManifest(data)
		}
		if err != nil {
			// The message names the file: an event's object does, but
			// not every reader of it shows the object.
			err = fmt.Errorf("manifest %s: %w", name, err)
			sum := sha256.Sum256(append(data, []byte(err.Error())...))
			if w.reported[name] != sum {
				w.reported[name] = sum
				w.report(ctx, name, err)
			}
			if w.lastGood[name] == nil {
				broken = append(broken, name)
			}
			continue
		}
		if _, was := w.reported[name]; was {
			delete(w.reported, name)
			w.report(ctx, name, nil)
		}
		w.lastGood[name] = ns
	}
	for name := range w.lastGood {
		if !seen[name] {
			delete(w.lastGood, name)
		}
	}
	for name := range w.reported {
		if !seen[name] {
			delete(w.reported, name)
		}
	}
	doc, dups := w.merge()
	for _, d := range dups {
		w.report(ctx, d.file, d.err)
	}
	if len(broken) > 0 {
		// What a broken file described before it broke is not known here
		// (the process started with it broken), but the store may run it:
		// keep every stored static pod and service no valid file names.
		kept, err := w.keepStored(ctx, doc)
		if err != nil {
			return err
		}
		w.log.Warn().Strs("files", broken).Strs("kept", kept).
			Msg("invalid manifest with no earlier valid version: the valid files are applied, stored static pods no valid file names are kept until it is fixed")
	}
	sum := contentHash(doc.Pods, doc.Services)
	if w.applied == ([32]byte{}) {
		// First sync of this process: what the store holds may already be
		// this (an agent restart); re-applying it would only bump the
		// generation.
		if stored, err := w.storedHash(ctx); err == nil {
			w.applied = stored
		}
	}
	if sum == w.applied {
		return nil
	}
	gens, err := w.store.Generations(ctx)
	if err != nil {
		return err
	}
	doc.Generation = gens[store.SourceStatic] + 1
	res, err := w.store.Apply(ctx, store.SourceStatic, doc)
	if err != nil {
		return fmt.Errorf("apply static manifests: %w", err)
	}
	w.applied = sum
	w.log.Info().Int64("generation", res.Generation).Int("pods", len(doc.Pods)).Int("services", len(doc.Services)).
		Strs("added", res.Added).Strs("removed", res.Removed).Msg("static manifests applied")
	return nil
}

// storedHash is the contentHash of the static source in the store.
func (w *Watcher) storedHash(ctx context.Context) ([32]byte, error) {
	doc, err := w.stored(ctx)
	if err != nil {
		return [32]byte{}, err
	}
	return contentHash(doc.Pods, doc.Services), nil
}

// stored is the static source's stored document (empty when none).
func (w *Watcher) stored(ctx context.Context) (*api.NodeState, error) {
	doc, err := w.store.SourceDocument(ctx, store.SourceStatic)
	if errors.Is(err, store.ErrNotFound) {
		return &api.NodeState{}, nil
	}
	return doc, err
}

// keepStored adds to doc the stored static pods and services whose names
// doc does not carry, and returns their names.
func (w *Watcher) keepStored(ctx context.Context, doc *api.NodeState) ([]string, error) {
	old, err := w.stored(ctx)
	if err != nil {
		return nil, fmt.Errorf("read stored static manifests: %w", err)
	}
	pods, svcs := map[string]bool{}, map[string]bool{}
	for _, p := range doc.Pods {
		pods[p.Metadata.Name] = true
	}
	for _, s := range doc.Services {
		svcs[s.Metadata.Name] = true
	}
	var kept []string
	for _, p := range old.Pods {
		if !pods[p.Metadata.Name] {
			doc.Pods = append(doc.Pods, p)
			kept = append(kept, "pod/"+p.Metadata.Name)
		}
	}
	for _, s := range old.Services {
		if !svcs[s.Metadata.Name] {
			doc.Services = append(doc.Services, s)
			kept = append(kept, "service/"+s.Metadata.Name)
		}
	}
	return kept, nil
}

// contentHash identifies a set of pods and services whatever their order.
func contentHash(pods []api.Pod, svcs []api.Service) [32]byte {
	pods, svcs = slices.Clone(pods), slices.Clone(svcs)
	sort.Slice(pods, func(i, j int) bool { return pods[i].Metadata.Name < pods[j].Metadata.Name })
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Metadata.Name < svcs[j].Metadata.Name })
	b, _ := json.Marshal(struct {
		P []api.Pod
		S []api.Service
	}{pods, svcs})
	return sha256.Sum256(b)
}

type dup struct {
	file string
	err  error
}

// merge joins the files' documents in file name order; a name already
// taken by an earlier file is dropped and reported.
func (w *Watcher) merge() (*api.NodeState, []dup) {
	names := make([]string, 0, len(w.lastGood))
	for n := range w.lastGood {
		names = append(names, n)
	}
	sort.Strings(names)
	doc := &api.NodeState{TypeMeta: api.TypeMeta{APIVersion: api.GroupVersion, Kind: api.KindNodeState}}
	pods, svcs := map[string]string{}, map[string]string{}
	var dups []dup
	for _, n := range names {
		ns := w.lastGood[n]
		for _, p := range ns.Pods {
			if other, taken := pods[p.Metadata.Name]; taken {
				dups = append(dups, dup{n, fmt.Errorf("pods[%s]: %s already has a pod of that name", p.Metadata.Name, other)})
				continue
			}
			pods[p.Metadata.Name] = n
			doc.Pods = append(doc.Pods, p)
		}
		for _, s := range ns.Services {
			if other, taken := svcs[s.Metadata.Name]; taken {
				dups = append(dups, dup{n, fmt.Errorf("services[%s]: %s already has a service of that name", s.Metadata.Name, other)})
				continue
			}
			svcs[s.Metadata.Name] = n
			doc.Services = append(doc.Services, s)
		}
	}
	return doc, dups
}
