package runtime_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// TestShimDied: when a pod's shim is killed, the task is detected as gone
// (an exit event, no task left running), its processes do not linger, and
// the container can be removed.
func TestShimDied(t *testing.T) {
	e := newEnv(t, nil)
	ctx, events := e.events()
	_, _, started := e.run(pod(t, hostPod("orphan", "sleep 3600")))
	shimPID := testenv.ParentPID(int(started[0].PID))
	if shimPID == 0 {
		t.Fatalf("no parent of container process %d", started[0].PID)
	}
	if err := syscall.Kill(shimPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	exit := waitExit(t, events, started[0].ID, 30*time.Second)
	t.Logf("exit after shim death: %+v", exit)
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(int(started[0].PID), 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("container process %d outlived its shim by 30 s", started[0].PID)
		}
		time.Sleep(100 * time.Millisecond)
	}
	obs, err := e.rt.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 1 || obs[0].State == runtimeapi.StateRunning {
		t.Fatalf("observed %+v", obs)
	}
	if err := e.rt.RemoveContainer(ctx, started[0].ID); err != nil {
		t.Fatalf("remove: %v", err)
	}
}
