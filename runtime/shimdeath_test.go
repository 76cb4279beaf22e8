package runtime_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/runtime"
)

// TestShimDied: when a pod's shim is killed, the task is detected as gone
// (an exit event, no task left running), its processes do not linger, and
// the container can be removed.
func TestShimDied(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := e.rt.Events(ctx)
	_, _, started := e.run(pod(t, hostPod("orphan", "sleep 3600")))
	shimPID := parentPID(t, int(started[0].PID))
	if err := syscall.Kill(shimPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	exit := waitExit(t, events, started[0].ID, 30*time.Second)
	t.Logf("exit after shim death: %+v", exit)
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(int(started[0].PID), 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("container process %d outlived its shim by 10 s", started[0].PID)
		}
		time.Sleep(100 * time.Millisecond)
	}
	obs, err := e.rt.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 1 || obs[0].State == runtime.StateRunning {
		t.Fatalf("observed %+v", obs)
	}
	if err := e.rt.RemoveContainer(ctx, started[0].ID); err != nil {
		t.Fatalf("remove: %v", err)
	}
}

func parentPID(t testing.TB, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) state ppid ...: comm may hold spaces, so cut after ')'.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatal(err)
	}
	return ppid
}
