package localapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/atomicfile"
)

// ManifestDir applies manifests to and deletes pods from the static source's
// directory; the agent's directory watcher turns the files into the static
// source. Each applied object gets its own file, <kind>-<name>.yaml (pod-web.yaml,
// service-web.yaml), written atomically (a dot-named temporary file renamed
// into place, which watchers skip), holding the object as it was written,
// comments included. An object applied under a name another file already
// holds is moved: it is written to its own file, then removed from the other.
//
// Its methods are safe for concurrent use; they are serialized.
type ManifestDir struct {
	path string
	log  zerolog.Logger
	mu   sync.Mutex
}

// NewManifestDir returns the manifest directory at path (created on the
// first apply).
func NewManifestDir(path string, log zerolog.Logger) *ManifestDir {
	return &ManifestDir{path: path, log: log.With().Str("component", "manifestdir").Logger()}
}

// Path is the directory.
func (d *ManifestDir) Path() string { return d.path }

// objKey names a pod or a service.
type objKey struct{ kind, name string }

func (k objKey) String() string { return k.kind + "/" + k.name }

// Kinds of objKey, as in file names and Change.Kind.
const (
	kindPod     = "pod"
	kindService = "service"
)

// Apply validates data with api.ParseManifest (an invalid manifest fails
// with its api.ErrorList, which wraps api.ErrInvalid) and writes each of its
// pods and services to its own file.
func (d *ManifestDir) Apply(ctx context.Context, data []byte) (ApplySummary, error) {
	if err := ctx.Err(); err != nil {
		return ApplySummary{}, err
	}
	ns, err := api.ParseManifest(data)
	if err != nil {
		return ApplySummary{}, fmt.Errorf("manifest: %w", err)
	}
	objs, err := splitObjects(data, ns)
	if err != nil {
		return ApplySummary{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := os.MkdirAll(d.path, 0o755); err != nil {
		return ApplySummary{}, fmt.Errorf("manifest dir: %w", err)
	}
	index, err := d.index()
	if err != nil {
		return ApplySummary{}, err
	}
	var sum ApplySummary
	for _, o := range objs {
		target := filepath.Join(d.path, o.key.kind+"-"+o.key.name+".yaml")
		old, err := os.ReadFile(target)
		existed := err == nil
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return sum, fmt.Errorf("manifest dir: %w", err)
		}
		c := Change{Kind: o.key.kind, Name: o.key.name, File: target, Action: ActionCreated}
		switch {
		case existed && bytes.Equal(old, o.data):
			c.Action = ActionUnchanged
		case existed:
			c.Action = ActionConfigured
		}
		if c.Action != ActionUnchanged {
			if err := writeAtomic(target, o.data); err != nil {
				return sum, fmt.Errorf("manifest dir: write %s: %w", target, err)
			}
		}
		// Written first, removed elsewhere second: the watcher may see the
		// name twice for a moment (and keep the previous state), never zero
		// times (and stop the pod).
		for _, f := range index[o.key] {
			if f == target {
				continue
			}
			if err := removeObject(f, o.key); err != nil {
				return sum, fmt.Errorf("manifest dir: moving %s out of %s: %w", o.key, f, err)
			}
			d.log.Info().Str("object", o.key.String()).Str("from", f).Str("to", target).Msg("object moved to its own file")
			c.Action = ActionConfigured // it existed, in another file
		}
		sum.Changes = append(sum.Changes, c)
	}
	return sum, nil
}

// DeletePod removes the pod called name from every file of the directory
// that holds it: a file left with nothing else is removed, another one is
// rewritten without it. A pod no file holds fails with ErrNotFound.
func (d *ManifestDir) DeletePod(ctx context.Context, name string) (ApplySummary, error) {
	if err := ctx.Err(); err != nil {
		return ApplySummary{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	index, err := d.index()
	if err != nil {
		return ApplySummary{}, err
	}
	key := objKey{kindPod, name}
	files := index[key]
	if len(files) == 0 {
		return ApplySummary{}, fmt.Errorf("%w: pod %q is in no manifest of %s", ErrNotFound, name, d.path)
	}
	var sum ApplySummary
	for _, f := range files {
		if err := removeObject(f, key); err != nil {
			return sum, fmt.Errorf("manifest dir: removing %s from %s: %w", key, f, err)
		}
		sum.Changes = append(sum.Changes, Change{Kind: kindPod, Name: name, Action: ActionDeleted, File: f})
	}
	return sum, nil
}

// index maps every pod and service of the directory to the files that hold
// it. Files that cannot be read as YAML are skipped: the watcher reports
// them, and they cannot hold an object anyway.
func (d *ManifestDir) index() (map[objKey][]string, error) {
	index := map[objKey][]string{}
	err := filepath.WalkDir(d.path, func(p string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == d.path {
			return fs.SkipAll
		}
		if err != nil {
			return err
		}
		if e.IsDir() {
			if p != d.path && strings.HasPrefix(e.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if !isManifestFile(e.Name()) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		keys, err := objectKeys(data)
		if err != nil {
			d.log.Debug().Err(err).Str("file", p).Msg("skipping unreadable manifest")
			return nil
		}
		for _, k := range keys {
			index[k] = append(index[k], p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("manifest dir: %w", err)
	}
	return index, nil
}

// isManifestFile is the watcher's rule: *.yaml, *.yml and *.json, not hidden.
func isManifestFile(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	switch filepath.Ext(name) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// writeAtomic replaces path with data durably. An existing file keeps its
// mode; a new one is 0600 (manifests may carry credentials in env).
func writeAtomic(path string, data []byte) error {
	mode := fs.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	return atomicfile.Write(path, data, mode)
}
