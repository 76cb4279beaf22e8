package ctrd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime/ctrd"
	"github.com/outpost-edge/outpost/runtime/images"
	"github.com/outpost-edge/outpost/runtime/testimage"
)

const testRef = "docker.io/outpost/busybox:test"

// importTestImage builds the busybox image and imports it into s.
func importTestImage(t *testing.T, ctx context.Context, s *ctrd.Server) client.Image {
	t.Helper()
	if _, err := testimage.FindBusybox(); err != nil {
		requireBusybox(t)
	}
	tar, err := testimage.Build(t.TempDir(), testRef)
	if err != nil {
		t.Fatalf("build test image: %v", err)
	}
	imgs, err := images.Import(ctx, s.Client(), tar, "")
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if len(imgs) != 1 || imgs[0].Name() != testRef {
		t.Fatalf("imported %v, want one image %s", imgs, testRef)
	}
	return imgs[0]
}

// newContainer creates a container running args (the image's command if
// none) on a fresh snapshot.
func newContainer(t *testing.T, ctx context.Context, c *client.Client, img client.Image, id string, args ...string) client.Container {
	t.Helper()
	specOpts := []oci.SpecOpts{oci.WithImageConfig(img)}
	if len(args) > 0 {
		specOpts = append(specOpts, oci.WithProcessArgs(args...))
	}
	ctr, err := c.NewContainer(ctx, id,
		client.WithNewSnapshot(id+"-rootfs", img),
		client.WithNewSpec(specOpts...),
	)
	if err != nil {
		t.Fatalf("create container %s: %v", id, err)
	}
	return ctr
}

// removeContainer kills and deletes the task, if any, then the container
// and its snapshot. c may belong to a later server than the one that made
// the container.
func removeContainer(t *testing.T, c *client.Client, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ctr, err := c.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return
	}
	if err != nil {
		t.Errorf("load container %s for cleanup: %v", id, err)
		return
	}
	if task, err := ctr.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil {
			t.Errorf("delete task %s: %v", id, err)
		}
	} else if !errdefs.IsNotFound(err) {
		t.Errorf("load task %s for cleanup: %v", id, err)
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil {
		t.Errorf("delete container %s: %v", id, err)
	}
}

func TestRunToExit(t *testing.T) {
	requireContainers(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data, state := dirs(t)
	s := start(t, data, state)
	img := importTestImage(t, ctx, s)

	const id = "exit-3"
	ctr := newContainer(t, ctx, s.Client(), img, id, "sh", "-c", "echo hello; echo oops >&2; exit 3")
	t.Cleanup(func() { removeContainer(t, s.Client(), id) })

	var out testenv.Buffer
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &out, &out)))
	if err != nil {
		t.Fatalf("create task: %v", err)
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatalf("start task: %v", err)
	}
	var st client.ExitStatus
	select {
	case st = <-exited:
	case <-ctx.Done():
		t.Fatal("container did not exit")
	}
	code, _, err := st.Result()
	if err != nil {
		t.Fatalf("exit status: %v", err)
	}
	if code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
	// Deleting the task closes its IO, so the copy of the output is done.
	if _, err := task.Delete(ctx); err != nil {
		t.Fatalf("delete task: %v", err)
	}
	if got := out.String(); !strings.Contains(got, "hello\n") || !strings.Contains(got, "oops\n") {
		t.Errorf("output %q, want hello and oops", got)
	}
}

func TestContainerSurvivesServerRestart(t *testing.T) {
	requireContainers(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data, state := dirs(t)
	s := start(t, data, state)
	img := importTestImage(t, ctx, s)

	const id = "long"
	ctr := newContainer(t, ctx, s.Client(), img, id) // image default: sleep 3600
	live := s                                        // nil while no server runs
	defer func() {
		// Runs before the t.Cleanup that stops the server.
		if live == nil {
			live = start(t, data, state)
		}
		removeContainer(t, live.Client(), id)
	}()
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatalf("create task: %v", err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatalf("start task: %v", err)
	}
	pid := task.Pid()

	live = nil
	if err := s.Stop(); err != nil {
		t.Fatalf("stop server: %v", err)
	}
	if err := processRunning(pid); err != nil {
		t.Fatalf("container process after server stop: %v", err)
	}

	s = start(t, data, state)
	live = s
	c := s.Client()
	ctr, err = c.LoadContainer(ctx, id)
	if err != nil {
		t.Fatalf("load container after restart: %v", err)
	}
	task, err = ctr.Task(ctx, nil)
	if err != nil {
		t.Fatalf("load task after restart: %v", err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		t.Fatalf("task status: %v", err)
	}
	if st.Status != client.Running || task.Pid() != pid {
		t.Fatalf("task after restart: %s pid %d, want running pid %d", st.Status, task.Pid(), pid)
	}

	exited, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	select {
	case es := <-exited:
		if es.ExitCode() != 128+uint32(syscall.SIGKILL) {
			t.Errorf("exit code %d, want %d", es.ExitCode(), 128+syscall.SIGKILL)
		}
	case <-ctx.Done():
		t.Fatal("container did not exit after SIGKILL")
	}
	if _, err := task.Delete(ctx); err != nil {
		t.Fatalf("delete task: %v", err)
	}
	if err := processRunning(pid); err == nil {
		t.Errorf("process %d still running after delete", pid)
	}
}

// processRunning returns nil when pid exists and is not a zombie.
func processRunning(pid uint32) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return err
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return fmt.Errorf("unexpected /proc/%d/stat %q", pid, b)
	}
	if state := b[i+2]; state == 'Z' || state == 'X' {
		return errors.New("process is a zombie")
	}
	return nil
}
