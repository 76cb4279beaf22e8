package runtime_test

import (
	"context"
	"testing"
	"time"
)

// TestWritableLayerBytes: what a container writes to its root filesystem
// is counted against its pod, and only its pod.
func TestWritableLayerBytes(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	writer, _, _ := e.run(pod(t, hostPod("writer", "dd if=/dev/zero of=/big bs=1M count=6 2>/dev/null; touch /written; sleep 3600")))
	idle, _, _ := e.run(pod(t, hostPod("idle", "sleep 3600")))
	const want = 6 << 20
	var got int64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var err error
		if got, err = e.rt.WritableLayerBytes(ctx, writer.UID); err != nil {
			t.Fatal(err)
		}
		if got >= want {
			break
		}
	}
	if got < want || got > want+1<<20 {
		t.Fatalf("writer's writable layer: %d bytes, want 6 MiB and a little", got)
	}
	other, err := e.rt.WritableLayerBytes(ctx, idle.UID)
	if err != nil || other > 64<<10 {
		t.Fatalf("idle pod's writable layer: %d bytes, %v", other, err)
	}
	if none, err := e.rt.WritableLayerBytes(ctx, "no-such-pod"); err != nil || none != 0 {
		t.Fatalf("unknown pod: %d, %v", none, err)
	}
}
