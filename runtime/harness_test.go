package runtime_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/opencontainers/image-spec/identity"
	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime"
	"github.com/outpost-edge/outpost/runtime/containerspec"
	"github.com/outpost-edge/outpost/runtime/ctrd"
	"github.com/outpost-edge/outpost/runtime/images"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
	"github.com/outpost-edge/outpost/runtime/testimage"
)

const testImage = "outpost.local/busybox:test"

// env is one embedded containerd with the busybox test image imported.
type env struct {
	t   testing.TB
	rt  *runtime.Runtime
	cfg runtime.Config
}

func newEnv(t testing.TB, mutate func(*runtime.Config)) *env {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "runc", "runc")
	if _, err := testimage.FindBusybox(); err != nil {
		testenv.Skip(t, err.Error())
	}
	data := t.TempDir()
	state := testenv.StateDir(t, "rt")
	if err := os.MkdirAll(filepath.Join(data, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := testimage.Build(filepath.Join(data, "images"), testImage); err != nil {
		t.Fatal(err)
	}
	// Most tests run hostNetwork pods (no CNI needed); the refusal is
	// tested with the policy off.
	cfg := runtime.Config{DataDir: data, StateDir: state, Policy: containerspec.Policy{AllowHostNetwork: true},
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)}
	if mutate != nil {
		mutate(&cfg)
	}
	e := &env{t: t, cfg: cfg}
	e.start()
	t.Cleanup(func() {
		e.removeAll()
		if e.rt != nil {
			e.rt.Close()
		}
		unmountDir(t, filepath.Join(state, "netns"))
		assertNoMounts(t, data, state)
		os.RemoveAll(state)
	})
	return e
}

func (e *env) start() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt, err := runtime.New(ctx, e.cfg)
	if err != nil {
		e.t.Fatalf("runtime.New: %v", err)
	}
	e.rt = rt
}

// restart closes the runtime (containers keep running) and starts a new one.
func (e *env) restart() {
	e.t.Helper()
	if err := e.rt.Close(); err != nil {
		e.t.Fatalf("close: %v", err)
	}
	e.start()
}

// newBareContainer creates, with the bare containerd client, a container of
// the test image named prefix plus a random suffix, its runc state in the
// env's private runc root (as the runtime keeps its own): never the
// machine-wide /run/containerd/runc, where a container of a killed run
// would stay and collide with the next run's. The test's cleanup removes
// it; a run killed before its cleanup is swept by the next (testenv.StateDir).
func (e *env) newBareContainer(prefix string, opts ...client.NewContainerOpts) client.Container {
	e.t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), ctrd.Namespace)
	img := e.image(ctx)
	id := prefix + "-" + newUID()[:12]
	opts = append([]client.NewContainerOpts{client.WithImage(img), client.WithNewSnapshot(id, img),
		client.WithNewSpec(oci.WithImageConfig(img)),
		client.WithRuntime(e.rt.Client().Runtime(), &runcoptions.Options{Root: filepath.Join(e.cfg.StateDir, "runc")})},
		opts...)
	cont, err := e.rt.Client().NewContainer(ctx, id, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if e.rt == nil {
			return
		}
		if task, err := cont.Task(ctx, nil); err == nil {
			task.Delete(ctx, client.WithProcessKill)
		}
		cont.Delete(ctx, client.WithSnapshotCleanup)
	})
	return cont
}

// image is the test image; ctx carries containerd's namespace.
func (e *env) image(ctx context.Context) client.Image {
	e.t.Helper()
	img, err := e.rt.Client().GetImage(ctx, testImage)
	if err != nil {
		e.t.Fatal(err)
	}
	return img
}

// prepareSnapshot prepares container id's snapshot on the test image, as
// NewContainer does, with no container recorded for it: what an agent
// killed between the two leaves behind.
func (e *env) prepareSnapshot(ctx context.Context, id string) {
	e.t.Helper()
	diffIDs, err := e.image(ctx).RootFS(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.rt.Client().SnapshotService(images.DefaultSnapshotter).Prepare(ctx, id, identity.ChainID(diffIDs).String()); err != nil {
		e.t.Fatal(err)
	}
}

// removeAll removes every container and pod the test left.
func (e *env) removeAll() {
	ctx := context.Background()
	obs, err := e.rt.List(ctx)
	if err != nil {
		e.t.Errorf("cleanup list: %v", err)
		return
	}
	uids := map[string]bool{}
	for _, o := range obs {
		if err := e.rt.RemoveContainer(ctx, o.ID); err != nil {
			e.t.Errorf("cleanup %s: %v", o.ID, err)
		}
		uids[o.Ref.UID] = true
	}
	for uid := range uids {
		if err := e.rt.RemovePod(ctx, uid, false); err != nil {
			e.t.Errorf("cleanup pod %s: %v", uid, err)
		}
	}
}

func newUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// pod parses a one-pod manifest with the test image.
func pod(t testing.TB, doc string) *api.Pod {
	t.Helper()
	doc = strings.ReplaceAll(doc, "IMAGE", testImage)
	ns, err := api.ParseManifest([]byte(doc))
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	return &ns.Pods[0]
}

// run starts every container of p and returns the sandbox and started containers.
func (e *env) run(p *api.Pod) (runtimeapi.PodRef, *runtimeapi.Sandbox, []runtimeapi.Started) {
	e.t.Helper()
	ctx := context.Background()
	ref := runtimeapi.PodRef{Source: "static", Name: p.Metadata.Name, UID: newUID()}
	sb, err := e.rt.EnsureSandbox(ctx, p, ref)
	if err != nil {
		e.t.Fatalf("sandbox: %v", err)
	}
	var started []runtimeapi.Started
	for i := range p.Spec.Containers {
		s, err := e.rt.StartContainer(ctx, runtimeapi.StartRequest{Pod: p, Ref: ref, Sandbox: sb, Container: &p.Spec.Containers[i]})
		if err != nil {
			e.t.Fatalf("start %s: %v", p.Spec.Containers[i].Name, err)
		}
		started = append(started, s)
	}
	return ref, sb, started
}

// events subscribes to the runtime's exit and OOM events; ctx, the
// subscription's, is cancelled when the test ends.
func (e *env) events() (context.Context, <-chan runtimeapi.Event) {
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	return ctx, e.rt.Events(ctx)
}

// waitExit waits for the exit event of container id.
func waitExit(t testing.TB, events <-chan runtimeapi.Event, id string, timeout time.Duration) runtimeapi.Exit {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event stream closed")
			}
			if ev.Kind == runtimeapi.EventExit && ev.ContainerID == id {
				return ev.Exit
			}
		case <-deadline:
			t.Fatalf("no exit of %s within %v", id, timeout)
		}
	}
}

func readLog(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertNoMounts fails when a mount is left under one of dirs.
func assertNoMounts(t testing.TB, dirs ...string) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Error(err)
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		for _, d := range dirs {
			if fields[4] == d || strings.HasPrefix(fields[4], d+"/") {
				t.Errorf("mount left behind: %s", fields[4])
			}
		}
	}
}
