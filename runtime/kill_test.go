package runtime_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime"
	"github.com/outpost-edge/outpost/runtime/containerspec"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// childEnv makes the test binary act as an agent process: it starts the
// runtime on the dirs in the environment, starts one container, prints
// "READY <id> <pid> <startedAt> <log path>" and waits to be killed.
const childEnv = "OUTPOST_TEST_CHILD_AGENT"

func runChildAgent() {
	fail := func(err error) { fmt.Println("ERROR", err); os.Exit(1) }
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{DataDir: os.Getenv("DATA"), StateDir: os.Getenv("STATE"), Policy: containerspec.Policy{AllowHostNetwork: true}})
	if err != nil {
		fail(err)
	}
	ns, err := api.ParseManifest([]byte(strings.ReplaceAll(hostPod("survivor",
		"i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"), "IMAGE", testImage)))
	if err != nil {
		fail(err)
	}
	p := &ns.Pods[0]
	ref := runtimeapi.PodRef{Source: "static", Name: "survivor", UID: os.Getenv("UID")}
	sb, err := rt.EnsureSandbox(ctx, p, ref)
	if err != nil {
		fail(err)
	}
	s, err := rt.StartContainer(ctx, runtimeapi.StartRequest{Pod: p, Ref: ref, Sandbox: sb, Container: &p.Spec.Containers[0]})
	if err != nil {
		fail(err)
	}
	fmt.Printf("READY %s %d %s %s\n", s.ID, s.PID, s.StartedAt.UTC().Format(time.RFC3339Nano), s.LogPath)
	select {}
}

// TestKilledAgent: the process holding the embedded containerd is killed
// with SIGKILL; its container keeps running, and a new runtime on the same
// dirs finds it untouched (same PID, same start time) and keeps its logs.
func TestKilledAgent(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.rt.Close(); err != nil { // the child owns the dirs now
		t.Fatal(err)
	}
	e.rt = nil
	uid := newUID()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "DATA="+e.cfg.DataDir, "STATE="+e.cfg.StateDir, "UID="+uid)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "READY ") || len(strings.Fields(line)) != 5 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q %v", line, err)
	}
	fields := strings.Fields(line)
	id := fields[1]
	pid, _ := strconv.Atoi(fields[2])
	startedAt, _ := time.Parse(time.RFC3339Nano, fields[3])
	// Killed once it logs, so that the log was collected before.
	waitLog(t, fields[4], "tick 1\n", 30*time.Second)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("container process %d died with the agent: %v", pid, err)
	}

	began := time.Now()
	e.start()
	obs, err := e.rt.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted and listed in %v", time.Since(began))
	if len(obs) != 1 || obs[0].ID != id || obs[0].State != runtimeapi.StateRunning || int(obs[0].PID) != pid {
		t.Fatalf("observed %+v, want %s running as pid %d", obs, id, pid)
	}
	if !obs[0].StartedAt.Equal(startedAt) || obs[0].Ref.UID != uid {
		t.Errorf("started at %v uid %s, want %v %s", obs[0].StartedAt, obs[0].Ref.UID, startedAt, uid)
	}
	waitLogCount(t, obs[0].LogPath, "tick", strings.Count(readLog(t, obs[0].LogPath), "tick")+3, 30*time.Second)
}
