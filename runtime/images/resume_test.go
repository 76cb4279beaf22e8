package images_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/images"
)

// TestResumeInterruptedPull interrupts a pull three quarters into the
// layer, then pulls again and counts the bytes the second pull moved
// through the relay: only what the content store lacks.
//
// containerd copies a download into the content store in 1 MiB writes.
// When the connection breaks, the partial buffer is still written, so all
// bytes received are kept. When the caller's context is cancelled, the
// write of the partial buffer fails with it: up to 1 MiB is fetched again.
func TestResumeInterruptedPull(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stall bool // stall the download and cancel the context; else cut the connection
	}{
		{"connection cut", false},
		{"context cancelled", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := server(t)
			img := busybox(t)
			reg := startRegistry(t, registryOpts{})
			reg.push("outpost/busybox", "1", img)
			rel := startRelay(t, reg.host)
			ref := rel.addr() + "/outpost/busybox:1"
			clk := newClock()
			p := newPuller(t, s.Client(), images.PullerConfig{Registry: images.RegistryConfig{Insecure: []string{"127.0.0.1"}}}, clk)

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			onCut := func() {}
			if tc.stall {
				onCut = func() { time.Sleep(100 * time.Millisecond); cancel() }
			}
			rel.cut(img.layer*3/4, tc.stall, onCut)
			_, err := p.Ensure(ctx, ref, api.PullIfNotPresent)
			if tc.stall && !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted pull: %v, want context canceled", err)
			}
			if !tc.stall && images.Reason(err) != "ErrImagePull" {
				t.Fatalf("interrupted pull: %v, want ErrImagePull", err)
			}
			first, _ := rel.counts()

			// The partial layer stays in the content store under the pull lease.
			var partial int64
			statuses, err := s.Client().ContentStore().ListStatuses(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range statuses {
				partial = max(partial, st.Offset)
			}
			if partial == 0 {
				t.Fatal("no partial download left in the content store")
			}

			rel.heal()
			clk.advance(time.Minute) // past the back-off of a failed pull
			r := ensure(t, p, ref, api.PullIfNotPresent)
			if !r.Pulled || r.Image.Target().Digest != img.digest() {
				t.Fatalf("pulled=%v %s", r.Pulled, r.Image.Target().Digest)
			}
			second, _ := rel.counts()
			t.Logf("layer %d bytes; first pull moved %d bytes, kept %d; second pull moved %d bytes",
				img.layer, first, partial, second)
			// Manifest, config and HTTP headers come on top of the missing
			// part of the layer: allow 64 KiB for them.
			if want := img.layer - partial + 64<<10; second > want {
				t.Errorf("second pull moved %d bytes, want at most %d: the layer was downloaded again", second, want)
			}
			if left, _ := s.Client().ContentStore().ListStatuses(testCtx(t)); len(left) != 0 {
				t.Errorf("%d ingests left after the pull", len(left))
			}
			if leases, _ := s.Client().LeasesService().List(testCtx(t)); len(leases) != 0 {
				t.Errorf("leases left after the pull: %v", leases)
			}
		})
	}
}

// TestPruneLeases gives up on an interrupted pull: its lease goes, so
// containerd may collect the partial layer.
func TestPruneLeases(t *testing.T) {
	s := server(t)
	img := busybox(t)
	reg := startRegistry(t, registryOpts{})
	reg.push("outpost/busybox", "1", img)
	rel := startRelay(t, reg.host)
	clk := newClock()
	p := newPuller(t, s.Client(), images.PullerConfig{Registry: images.RegistryConfig{Insecure: []string{"127.0.0.1"}}}, clk)
	rel.cut(img.layer/2, false, func() {})
	if _, err := p.Ensure(testCtx(t), rel.addr()+"/outpost/busybox:1", api.PullIfNotPresent); err == nil {
		t.Fatal("interrupted pull succeeded")
	}
	// The clock is years ahead of containerd's: every lease is old.
	if n, err := p.PruneLeases(testCtx(t), 24*time.Hour); err != nil || n != 1 {
		t.Fatalf("pruned %d: %v", n, err)
	}
	if leases, _ := s.Client().LeasesService().List(testCtx(t)); len(leases) != 0 {
		t.Errorf("leases left: %v", leases)
	}
}
