package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

const twoContainers = `  - name: second
    image: IMAGE
    imagePullPolicy: Never
    command: ["sleep", "1000"]
`

// TestOneShimPerPod: every container of a pod is served by one shim
// process, also a container that restarts; another pod has its own. The
// grouping was once set as a container label, which the runc v2 shim
// ignores (it reads the spec's annotation): every container had a shim.
func TestOneShimPerPod(t *testing.T) {
	e := newEnv(t, nil)
	shims := func(want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := testenv.ShimPIDs(e.cfg.StateDir)
			if len(got) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d shims (%v), want %d", len(got), got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	p := pod(t, hostPod("grouped", "sleep 1000")+twoContainers)
	ref, sb, started := e.run(p)
	shims(1)
	// The second container's next attempt joins the same shim.
	ctx := context.Background()
	if err := e.rt.RemoveContainer(ctx, started[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.StartContainer(ctx, runtimeapi.StartRequest{Pod: p, Ref: ref, Sandbox: sb, Container: &p.Spec.Containers[1], Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	shims(1)
	e.run(pod(t, hostPod("other", "sleep 1000")+twoContainers))
	shims(2)
	// Removing the pods stops their shims and removes their sockets
	// (containerd removes the one it derives from a container's id, not
	// the group's).
	e.removeAll()
	shims(0)
	if socks, _ := os.ReadDir(filepath.Join(e.cfg.StateDir, "s")); len(socks) != 0 {
		t.Fatalf("shim sockets left: %v", socks)
	}
}
