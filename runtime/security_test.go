package runtime_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/outpost-edge/outpost/runtime"
	"github.com/outpost-edge/outpost/runtime/containerspec"
	"github.com/outpost-edge/outpost/runtime/ctrd"
	"github.com/outpost-edge/outpost/runtime/images"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// startErr creates the sandbox of p and starts its first container, which
// is expected to be refused; the sandbox is removed again.
func (e *env) startErr(p *runtimeapi.StartRequest) error {
	e.t.Helper()
	ctx := context.Background()
	sb, err := e.rt.EnsureSandbox(ctx, p.Pod, p.Ref)
	if err != nil {
		e.t.Fatalf("sandbox: %v", err)
	}
	p.Sandbox = sb
	_, err = e.rt.StartContainer(ctx, *p)
	if rmErr := e.rt.RemovePod(ctx, p.Ref.UID, false); rmErr != nil {
		e.t.Errorf("remove pod: %v", rmErr)
	}
	return err
}

func refuse(e *env, doc string) error {
	e.t.Helper()
	p := pod(e.t, doc)
	return e.startErr(&runtimeapi.StartRequest{Pod: p, Ref: runtimeapi.PodRef{Source: "static", Name: p.Metadata.Name, UID: newUID()},
		Container: &p.Spec.Containers[0]})
}

// TestRunAsNonRoot: the test image has no USER, so it runs as root, and a
// container with runAsNonRoot is refused; with runAsUser it runs as that uid.
func TestRunAsNonRoot(t *testing.T) {
	e := newEnv(t, nil)
	_, events := e.events()

	err := refuse(e, hostPod("root", "id -u")+"    securityContext: {runAsNonRoot: true}\n")
	if !errors.Is(err, containerspec.ErrRunAsNonRoot) || !strings.Contains(err.Error(), "container has runAsNonRoot and image will run as root") {
		t.Fatalf("runAsNonRoot on a root image: err = %v", err)
	}

	_, _, started := e.run(pod(t, hostPod("nonroot", "id -u")+"    securityContext: {runAsNonRoot: true, runAsUser: 1000}\n"))
	if exit := waitExit(t, events, started[0].ID, 20*time.Second); exit.Code != 0 {
		t.Fatalf("runAsUser 1000: exit %+v", exit)
	}
	if log := readLog(t, started[0].LogPath); !strings.Contains(log, " stdout F 1000\n") {
		t.Fatalf("log = %q, want uid 1000", log)
	}
}

// TestRunAsNonRootNamedUser: an image USER given by name is resolved in the
// image's /etc/passwd (root:0, nobody:65534 in the test image) through the
// container's snapshot, as containerd does when it creates the container.
func TestRunAsNonRootNamedUser(t *testing.T) {
	e := newEnv(t, nil)
	ctx := namespaces.WithNamespace(context.Background(), ctrd.Namespace)
	img := e.image(ctx)
	cfg, err := img.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := pod(t, hostPod("named", "id -u")+"    securityContext: {runAsNonRoot: true}\n")
	tests := []struct {
		user string
		want string
	}{
		{"nobody", ""},
		{"root", `container "main": container has runAsNonRoot and image will run as root (user "root" is uid 0)`},
		{"ghost", `container "main": container has runAsNonRoot and image has non-numeric user (ghost), cannot verify user is non-root`},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			image := cfg.Config
			image.User = tt.user
			opts, err := containerspec.Options(containerspec.Pod{Spec: p}, &p.Spec.Containers[0], image, e.cfg.Policy)
			if err != nil {
				t.Fatal(err)
			}
			id := "nonroot-" + newUID()[:8]
			cont, err := e.rt.Client().NewContainer(ctx, id, client.WithImage(img), client.WithSnapshotter(images.DefaultSnapshotter),
				client.WithNewSnapshot(id, img), client.WithNewSpec(opts...))
			defer func() {
				if cont != nil {
					if err := cont.Delete(ctx, client.WithSnapshotCleanup); err != nil {
						t.Error(err)
					}
				} else if err := e.rt.Client().SnapshotService(images.DefaultSnapshotter).Remove(ctx, id); err != nil && !errdefs.IsNotFound(err) {
					t.Error(err) // a failed NewContainer leaves the snapshot it prepared
				}
			}()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				spec, err := cont.Spec(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if spec.Process.User.UID != 65534 {
					t.Fatalf("uid = %d, want nobody's 65534", spec.Process.User.UID)
				}
				return
			}
			if !errors.Is(err, containerspec.ErrRunAsNonRoot) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant %s", err, tt.want)
			}
		})
	}
}

// TestHostPathType: DirectoryOrCreate creates the directory the container
// then writes to; Directory on a file refuses the container.
func TestHostPathType(t *testing.T) {
	allowed := t.TempDir()
	e := newEnv(t, func(c *runtime.Config) { c.Policy.HostPathPrefixes = []string{allowed} })
	_, events := e.events()
	mount := func(path, typ string) string {
		return hostPod("hp", "ls -ld /host && echo written > /host/out") +
			"    volumeMounts: [{name: h, mountPath: /host}]\n" +
			"  volumes: [{name: h, hostPath: {path: " + path + ", type: " + typ + "}}]\n"
	}
	dir := filepath.Join(allowed, "state", "app")
	_, _, started := e.run(pod(t, mount(dir, "DirectoryOrCreate")))
	if exit := waitExit(t, events, started[0].ID, 20*time.Second); exit.Code != 0 {
		t.Fatalf("DirectoryOrCreate: exit %+v, log %q", exit, readLog(t, started[0].LogPath))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "out")); err != nil || string(b) != "written\n" {
		t.Fatalf("the container's file on the host: %q, %v", b, err)
	}
	if log := readLog(t, started[0].LogPath); !strings.Contains(log, "drwxr-xr-x") {
		t.Errorf("log = %q, want a 0755 directory", log)
	}

	file := filepath.Join(allowed, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := refuse(e, mount(file, "Directory"))
	want := `container "main": volume "h": hostPath ` + file + ` (type Directory): hostPath type check failed: it is a regular file, not a directory`
	if !errors.Is(err, containerspec.ErrHostPathType) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Directory on a file: err = %v\nwant %s", err, want)
	}
}
