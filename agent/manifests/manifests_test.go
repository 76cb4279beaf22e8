package manifests

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/store"
)

func podYAML(name, image string) string {
	return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + "}\nspec:\n  containers: [{name: c, image: '" + image + "'}]\n"
}

type reports struct {
	mu  sync.Mutex
	got []string
}

func (r *reports) report(_ context.Context, file string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.got = append(r.got, file+": ok")
		return
	}
	r.got = append(r.got, file+": "+err.Error())
}

func (r *reports) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.got, "\n")
}

func setup(t *testing.T) (string, *store.Store, *Watcher, *reports) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &reports{}
	return dir, st, New(dir, st, r.report, zerolog.Nop()), r
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func staticPods(t *testing.T, st *store.Store) (names []string, images map[string]string, gen int64) {
	t.Helper()
	m, err := st.Desired(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	images = map[string]string{}
	for _, p := range m.Pods {
		names = append(names, p.Pod.Metadata.Name)
		images[p.Pod.Metadata.Name] = p.Pod.Spec.Containers[0].Image
	}
	sort.Strings(names)
	return names, images, m.Generations[store.SourceStatic]
}

func TestSync(t *testing.T) {
	dir, st, w, rep := setup(t)
	ctx := context.Background()
	write(t, dir, "a.yaml", podYAML("web", "busybox:1"))
	write(t, dir, "b.json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"db"},"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}`)
	write(t, dir, "notes.txt", "ignored")
	write(t, dir, ".hidden.yaml", "ignored: true")
	if err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	names, _, gen := staticPods(t, st)
	if strings.Join(names, ",") != "db,web" || gen != 1 {
		t.Fatalf("pods %v generation %d", names, gen)
	}
	// Nothing changed: no new generation.
	if err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, g := staticPods(t, st); g != 1 {
		t.Fatalf("an unchanged directory bumped the generation to %d", g)
	}
	// A broken edit keeps the last good content and is reported once.
	write(t, dir, "a.yaml", strings.Replace(podYAML("web", "busybox:1"), "}]", ", livenessProbe: {grpc: {port: 1}}}]", 1))
	w.Sync(ctx)
	w.Sync(ctx)
	_, images, g := staticPods(t, st)
	if images["web"] != "busybox:1" || g != 1 {
		t.Fatalf("invalid edit applied: %v gen %d", images, g)
	}
	if got := rep.all(); strings.Count(got, "a.yaml: manifest a.yaml: ") != 1 || !strings.Contains(got, "livenessProbe.grpc: not supported") {
		t.Fatalf("reports = %q", got)
	}
	// Fixed: applied, and the recovery reported.
	write(t, dir, "a.yaml", podYAML("web", "busybox:3"))
	w.Sync(ctx)
	if _, images, g := staticPods(t, st); images["web"] != "busybox:3" || g != 2 {
		t.Fatalf("fix not applied: %v gen %d", images, g)
	}
	if !strings.Contains(rep.all(), "a.yaml: ok") {
		t.Fatalf("recovery not reported: %q", rep.all())
	}
	// A file removed takes its pods with it.
	os.Remove(filepath.Join(dir, "b.json"))
	w.Sync(ctx)
	if names, _, _ := staticPods(t, st); strings.Join(names, ",") != "web" {
		t.Fatalf("pods after removing b.json: %v", names)
	}
	// The same pod name in two files: the first file wins, the other is reported.
	write(t, dir, "c.yaml", podYAML("web", "busybox:9"))
	w.Sync(ctx)
	if _, images, _ := staticPods(t, st); images["web"] != "busybox:3" {
		t.Fatalf("duplicate replaced the first: %v", images)
	}
	if !strings.Contains(rep.all(), "c.yaml: pods[web]: a.yaml already has a pod of that name") {
		t.Fatalf("duplicate not reported: %q", rep.all())
	}
}

// TestInvalidAtStart: an agent that starts with a broken manifest (and so
// has no good version of it) runs the valid files and keeps the stored
// static pods no valid file names (the broken file's, as it was); the
// report names the file and the field.
func TestInvalidAtStart(t *testing.T) {
	dir, st, w, _ := setup(t)
	ctx := context.Background()
	write(t, dir, "a.yaml", podYAML("web", "busybox:1"))
	write(t, dir, "b.yaml", podYAML("db", "busybox:1"))
	if err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "a.yaml", podYAML("web", ""))
	write(t, dir, "b.yaml", podYAML("db", "busybox:2"))
	write(t, dir, "c.yaml", podYAML("cache", "busybox:1"))
	rep := &reports{}
	w2 := New(dir, st, rep.report, zerolog.Nop()) // a restarted agent
	if err := w2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	names, images, _ := staticPods(t, st)
	if strings.Join(names, ",") != "cache,db,web" || images["db"] != "busybox:2" || images["web"] != "busybox:1" {
		t.Fatalf("static pods after starting with a broken file: %v %v", names, images)
	}
	if got := rep.all(); !strings.Contains(got, "manifest a.yaml: ") || !strings.Contains(got, "spec.containers[0].image") {
		t.Fatalf("report %q does not name the file and the field", got)
	}
	// Fixed: the files alone are the static source again.
	write(t, dir, "a.yaml", podYAML("api", "busybox:1"))
	if err := w2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if names, _, _ := staticPods(t, st); strings.Join(names, ",") != "api,cache,db" {
		t.Fatalf("static pods after the fix: %v", names)
	}
}

// TestInvalidAtFirstStart: a device's first boot with one broken file runs
// the valid ones.
func TestInvalidAtFirstStart(t *testing.T) {
	dir, st, w, rep := setup(t)
	write(t, dir, "a.yaml", "kind: Pod\nmetadata: [\n")
	write(t, dir, "b.yaml", podYAML("db", "busybox:1"))
	if err := w.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if names, _, _ := staticPods(t, st); strings.Join(names, ",") != "db" {
		t.Fatalf("static pods %v, want the valid file's db", names)
	}
	if got := rep.all(); !strings.Contains(got, "a.yaml: manifest a.yaml: ") {
		t.Fatalf("report %q does not name the file", got)
	}
}

// TestRestartKeepsGeneration: a restarted agent reading the same files does
// not re-apply them.
func TestRestartKeepsGeneration(t *testing.T) {
	dir, st, w, _ := setup(t)
	ctx := context.Background()
	write(t, dir, "a.yaml", podYAML("web", "busybox:1")+"---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n")
	write(t, dir, "b.yaml", podYAML("api", "busybox:1"))
	w.Sync(ctx)
	New(dir, st, nil, zerolog.Nop()).Sync(ctx)
	if _, _, g := staticPods(t, st); g != 1 {
		t.Fatalf("generation %d after a restart with the same files, want 1", g)
	}
}

func TestRunWatches(t *testing.T) {
	dir, st, w, _ := setup(t)
	w.Rescan = time.Hour // only inotify can make this pass in time
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Run watches the directory before its first sync: once the file
	// there before it is applied, the next one can only come through
	// the watch.
	write(t, dir, "a.yaml", podYAML("web", "busybox:1"))
	go w.Run(ctx)
	waitPods := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			names, _, _ := staticPods(t, st)
			if strings.Join(names, ",") == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("static pods %v, want %s within 30 s", names, want)
			}
		}
	}
	waitPods("web")
	write(t, dir, "b.yaml", podYAML("db", "busybox:1"))
	waitPods("db,web")
}
