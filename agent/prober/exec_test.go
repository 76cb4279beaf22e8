package prober

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime"
	"github.com/outpost-edge/outpost/runtime/containerspec"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
	"github.com/outpost-edge/outpost/runtime/testimage"
)

const testImage = "outpost.local/busybox:test"

// startContainer starts an embedded containerd with the busybox test image
// and runs one hostNetwork container with command; it returns the runtime
// and the container's ID. Everything is removed when the test ends.
func startContainer(t *testing.T, command string) (*runtime.Runtime, string) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "runc", "runc")
	if _, err := testimage.FindBusybox(); err != nil {
		testenv.Skip(t, err.Error())
	}
	data := t.TempDir()
	state := testenv.StateDir(t, "prb") // short: shim socket paths are limited
	if err := os.MkdirAll(filepath.Join(data, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := testimage.Build(filepath.Join(data, "images"), testImage); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt, err := runtime.New(ctx, runtime.Config{DataDir: data, StateDir: state, Policy: containerspec.Policy{AllowHostNetwork: true},
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatalf("runtime.New: %v", err)
	}
	ref := runtimeapi.PodRef{Source: "static", Name: "probed", UID: strconv.FormatInt(time.Now().UnixNano(), 16)}
	t.Cleanup(func() {
		ctx := context.Background()
		obs, err := rt.List(ctx)
		if err != nil {
			t.Errorf("cleanup list: %v", err)
		}
		for _, o := range obs {
			if err := rt.RemoveContainer(ctx, o.ID); err != nil {
				t.Errorf("cleanup %s: %v", o.ID, err)
			}
		}
		if err := rt.RemovePod(ctx, ref.UID, false); err != nil {
			t.Errorf("cleanup pod: %v", err)
		}
		rt.Close()
		netns := filepath.Join(state, "netns")
		if err := unix.Unmount(netns, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			t.Errorf("unmount %s: %v", netns, err)
		}
		os.RemoveAll(state)
	})
	ns, err := api.ParseManifest([]byte(`apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  hostNetwork: true
  restartPolicy: Never
  containers:
  - name: main
    image: ` + testImage + `
    imagePullPolicy: Never
    command: ["sh", "-c", ` + strconv.Quote(command) + `]
`))
	if err != nil {
		t.Fatal(err)
	}
	p := &ns.Pods[0]
	sb, err := rt.EnsureSandbox(ctx, p, ref)
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	s, err := rt.StartContainer(ctx, runtimeapi.StartRequest{Pod: p, Ref: ref, Sandbox: sb, Container: &p.Spec.Containers[0]})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return rt, s.ID
}

// TestExecProbe runs exec probes in a real container. Run and Worker share
// one container to keep the test short.
func TestExecProbe(t *testing.T) {
	rt, id := startContainer(t, "touch /tmp/healthy; exec sleep 3600")
	target := Target{ContainerID: id, Execer: rt}
	cmd := func(args ...string) *api.Probe { return &api.Probe{Exec: &api.ExecAction{Command: args}} }

	t.Run("once", func(t *testing.T) {
		tests := []struct {
			name    string
			probe   *api.Probe
			wantOK  bool
			wantMsg string
		}{
			{"exit 0", cmd("test", "-f", "/tmp/healthy"), true, ""},
			{"output is the message", cmd("sh", "-c", "echo not healthy >&2; exit 1"), false, "not healthy"},
			{"no output names the code", cmd("sh", "-c", "exit 7"), false, `command "sh -c exit 7" exited with code 7`},
			{"output is capped", cmd("sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x; exit 1"), false, strings.Repeat("x", maxMessage-3) + "..."},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ok, msg, err := Run(context.Background(), tt.probe, target)
				if err != nil || ok != tt.wantOK || msg != tt.wantMsg {
					t.Fatalf("Run = %v, %q, %v; want %v, %q", ok, msg, err, tt.wantOK, tt.wantMsg)
				}
			})
		}
	})

	t.Run("timeout kills the command", func(t *testing.T) {
		const timeout = 300 * time.Millisecond
		ctx, cancel := context.WithTimeoutCause(context.Background(), timeout, &TimeoutError{Timeout: timeout})
		defer cancel()
		began := time.Now()
		ok, msg, err := Run(ctx, cmd("sleep", "30"), target)
		if ok || err != nil || msg != `command "sleep 30": timed out after 300ms` {
			t.Fatalf("Run = %v, %q, %v", ok, msg, err)
		}
		if d := time.Since(began); d > 20*time.Second { // far short of the 30 s sleep
			t.Fatalf("took %v", d)
		}
	})

	t.Run("missing container is not a failure", func(t *testing.T) {
		ok, _, err := Run(context.Background(), cmd("true"), Target{ContainerID: "nope", Execer: rt})
		if ok || !errors.Is(err, runtime.ErrNotFound) {
			t.Fatalf("Run = %v, %v; want runtime.ErrNotFound", ok, err)
		}
	})

	// A liveness worker on the real runtime: healthy while the file
	// exists, then three failed periods and a restart.
	t.Run("liveness worker", func(t *testing.T) {
		clock := newFakeClock()
		t0 := clock.Now()
		results := make(chan Result, 10)
		w, err := NewWorker(WorkerConfig{Kind: Liveness, ContainerID: id, Execer: rt, Clock: clock,
			Probe:    &api.Probe{Exec: &api.ExecAction{Command: []string{"sh", "-c", "test -f /tmp/healthy || { echo gone; exit 1; }"}}, PeriodSeconds: 10, TimeoutSeconds: 5, SuccessThreshold: 1, FailureThreshold: 3},
			OnResult: func(r Result) { results <- r },
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { w.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()

		waitTimer(t, clock, t0.Add(10*time.Second)) // first attempt passed silently
		if len(results) != 0 {
			t.Fatalf("healthy container reported %+v", <-results)
		}
		if code, err := rt.Exec(context.Background(), id, runtimeapi.ExecRequest{Cmd: []string{"rm", "/tmp/healthy"}}); code != 0 || err != nil {
			t.Fatalf("rm = %d, %v", code, err)
		}
		for i := 1; i <= 3; i++ {
			waitTimer(t, clock, t0.Add(time.Duration(i)*10*time.Second))
			clock.AdvanceTo(t0.Add(time.Duration(i) * 10 * time.Second))
			var r Result
			select {
			case r = <-results:
			case <-time.After(30 * time.Second):
				t.Fatalf("attempt %d not reported", i)
			}
			if r.Output != "gone" || r.NeedsRestart() != (i == 3) {
				t.Fatalf("attempt %d reported %+v", i, r)
			}
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("worker goes on after the liveness failure")
		}
	})
}
