package runtime_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/outpost-edge/outpost/runtime"
	"github.com/outpost-edge/outpost/runtime/containerspec"
	"github.com/outpost-edge/outpost/runtime/ctrd"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

func hostPod(name, command string) string {
	return `apiVersion: v1
kind: Pod
metadata: {name: ` + name + `}
spec:
  hostNetwork: true
  restartPolicy: Never
  containers:
  - name: main
    image: IMAGE
    imagePullPolicy: Never
    command: ["sh", "-c", ` + strconv.Quote(command) + `]
`
}

func TestExitCodesAndLogs(t *testing.T) {
	e := newEnv(t, nil)
	ctx, events := e.events()
	tests := []struct {
		name, cmd, reason string
		code              int32
	}{
		{"ok", "echo out; echo err >&2; exit 0", runtimeapi.ReasonCompleted, 0},
		{"fails", "echo failing; exit 3", runtimeapi.ReasonError, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, started := e.run(pod(t, hostPod(tt.name, tt.cmd)))
			ev := waitExit(t, events, started[0].ID, 20*time.Second)
			if ev.Code != tt.code || ev.Reason != tt.reason {
				t.Fatalf("exit = %+v, want code %d reason %s", ev, tt.code, tt.reason)
			}
			exit, err := e.rt.StopContainer(ctx, started[0].ID, time.Second)
			if err != nil || exit.Code != tt.code || exit.Reason != tt.reason || exit.ExitedAt.IsZero() {
				t.Fatalf("StopContainer = %+v, %v", exit, err)
			}
			log := readLog(t, started[0].LogPath)
			first := strings.SplitN(log, "\n", 2)[0]
			fields := strings.SplitN(first, " ", 4)
			if len(fields) != 4 || fields[2] != "F" {
				t.Fatalf("log line %q is not in the CRI format", first)
			}
			if _, err := time.Parse(time.RFC3339Nano, fields[0]); err != nil {
				t.Fatalf("log timestamp %q: %v", fields[0], err)
			}
			if tt.name == "ok" && (!strings.Contains(log, " stdout F out\n") || !strings.Contains(log, " stderr F err\n")) {
				t.Fatalf("log = %q", log)
			}
		})
	}
}

// TestGracePeriod: a container that exits on SIGTERM stops with its own
// code; one that ignores it is killed once the grace period is over, never
// before. The upper bounds are loose on purpose (a loaded machine is slow
// to deliver signals and reap); they only catch a stop that hangs.
func TestGracePeriod(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	// A container that exits cleanly on SIGTERM stops at once, with its own code.
	_, _, polite := e.run(pod(t, hostPod("polite", "trap 'echo bye; exit 7' TERM; echo trapped; while true; do sleep 0.1; done")))
	// One that ignores SIGTERM is killed when the grace period ends.
	_, _, stubborn := e.run(pod(t, hostPod("stubborn", "trap '' TERM; echo trapped; while true; do sleep 0.1; done")))
	// The shells say when their traps are in place.
	waitLog(t, polite[0].LogPath, "trapped", 30*time.Second)
	waitLog(t, stubborn[0].LogPath, "trapped", 30*time.Second)

	began := time.Now()
	exit, err := e.rt.StopContainer(ctx, polite[0].ID, time.Minute)
	if err != nil || exit.Code != 7 {
		t.Fatalf("polite: %+v, %v", exit, err)
	}
	// Well within its grace period: it was not killed at the end of it.
	if d := time.Since(began); d > 30*time.Second {
		t.Errorf("polite container took %v to stop", d)
	}
	began = time.Now()
	exit, err = e.rt.StopContainer(ctx, stubborn[0].ID, 2*time.Second)
	if err != nil || exit.Code != 137 {
		t.Fatalf("stubborn: %+v, %v", exit, err)
	}
	if d := time.Since(began); d < 2*time.Second || d > 30*time.Second {
		t.Errorf("stubborn container stopped after %v, want the 2 s grace period", d)
	}
}

func TestReadOnlyRootFilesystem(t *testing.T) {
	e := newEnv(t, nil)
	_, events := e.events()
	doc := hostPod("ro", "touch /probe && echo writable || echo readonly; touch /tmp/x && exit 0 || exit 9") +
		"    securityContext: {readOnlyRootFilesystem: true}\n"
	_, _, started := e.run(pod(t, doc))
	exit := waitExit(t, events, started[0].ID, 20*time.Second)
	if exit.Code != 9 {
		t.Errorf("exit %d: /tmp on a read-only root must not be writable either", exit.Code)
	}
	if log := readLog(t, started[0].LogPath); !strings.Contains(log, "readonly") || strings.Contains(log, "writable") {
		t.Fatalf("log = %q", log)
	}
}

func TestOOMKilled(t *testing.T) {
	e := newEnv(t, nil)
	ctx, events := e.events()
	doc := hostPod("hog", "exec dd if=/dev/zero of=/dev/null bs=64M count=1") +
		"    resources: {limits: {memory: 16Mi}}\n"
	_, _, started := e.run(pod(t, doc))
	exit := waitExit(t, events, started[0].ID, 30*time.Second)
	if exit.Reason != runtimeapi.ReasonOOMKilled || exit.Code != 137 {
		t.Fatalf("exit = %+v, want OOMKilled/137", exit)
	}
	stopped, err := e.rt.StopContainer(ctx, started[0].ID, time.Second)
	if err != nil || stopped.Reason != runtimeapi.ReasonOOMKilled {
		t.Fatalf("StopContainer = %+v, %v", stopped, err)
	}
}

func TestHostPathPolicy(t *testing.T) {
	allowed := t.TempDir()
	e := newEnv(t, func(c *runtime.Config) { c.Policy.HostPathPrefixes = []string{allowed} })
	if err := os.WriteFile(allowed+"/greeting", []byte("hi from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, events := e.events()
	mount := func(path string) string {
		return hostPod("hp", "cat /host/greeting") +
			"    volumeMounts: [{name: h, mountPath: /host, readOnly: true}]\n" +
			"  volumes: [{name: h, hostPath: {path: " + path + "}}]\n"
	}
	_, _, started := e.run(pod(t, mount(allowed)))
	if exit := waitExit(t, events, started[0].ID, 20*time.Second); exit.Code != 0 {
		t.Fatalf("allowed hostPath: exit %+v", exit)
	}
	if log := readLog(t, started[0].LogPath); !strings.Contains(log, "hi from the host") {
		t.Fatalf("log = %q", log)
	}

	p := pod(t, mount("/etc"))
	ref := runtimeapi.PodRef{Source: "static", Name: "hp2", UID: newUID()}
	sb, err := e.rt.EnsureSandbox(ctx, p, ref)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.rt.StartContainer(ctx, runtimeapi.StartRequest{Pod: p, Ref: ref, Sandbox: sb, Container: &p.Spec.Containers[0]})
	if !errors.Is(err, containerspec.ErrForbidden) {
		t.Fatalf("hostPath /etc: err = %v, want ErrForbidden", err)
	}
	if err := e.rt.RemovePod(ctx, ref.UID, false); err != nil {
		t.Fatal(err)
	}
}

// TestAdoptAfterRestart: containers keep running while the runtime (and its
// embedded containerd) is closed and restarted, and the new runtime finds
// them by their labels, with the same PID and start time, and keeps
// collecting their logs.
func TestAdoptAfterRestart(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ref, _, started := e.run(pod(t, hostPod("steady", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done")))
	waitLog(t, started[0].LogPath, "tick 1\n", 30*time.Second)
	e.restart()
	obs, err := e.rt.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 1 {
		t.Fatalf("List = %+v", obs)
	}
	o := obs[0]
	if o.ID != started[0].ID || o.State != runtimeapi.StateRunning || o.PID != started[0].PID || o.Ref != ref || o.Container != "main" {
		t.Fatalf("observed %+v, started %+v", o, started[0])
	}
	if !o.StartedAt.Equal(started[0].StartedAt.UTC()) && o.StartedAt.Sub(started[0].StartedAt).Abs() > time.Millisecond {
		t.Errorf("start time %v, want %v", o.StartedAt, started[0].StartedAt)
	}
	waitLogCount(t, o.LogPath, "tick", strings.Count(readLog(t, o.LogPath), "tick")+1, 30*time.Second)
}

// TestStopCreatedTask: a task created but never started (the agent stopped
// in between) can be stopped and removed.
func TestStopCreatedTask(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	p := pod(t, hostPod("created", "sleep 3600"))
	nsCtx := namespaces.WithNamespace(ctx, ctrd.Namespace)
	cont := e.newBareContainer("created-only",
		client.WithContainerLabels(map[string]string{runtime.LabelPodUID: "x", runtime.LabelPodName: p.Metadata.Name}))
	id := cont.ID()
	if _, err := cont.NewTask(nsCtx, cio.NullIO); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.StopContainer(ctx, id, time.Second); err != nil {
		t.Fatalf("stopping a created task: %v", err)
	}
	if err := e.rt.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
}
