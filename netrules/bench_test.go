package netrules_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/netrules"
	"github.com/outpost-edge/outpost/runtime/netns"
)

// BenchmarkSync: a full sync of 1000 services with 10 endpoints each, the
// same table loaded by `nft -f` from its text (the baseline), and a sync
// where one endpoint of one service changes readiness.
func BenchmarkSync(b *testing.B) {
	testenv.RequireRoot(b)
	nft := testenv.RequireBinary(b, "nft", "nftables")
	dir := b.TempDir()
	defer func() { _ = unix.Unmount(dir, unix.MNT_DETACH) }()
	ns, err := netns.New(dir, "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Remove()

	ctx := context.Background()
	svcs, pods := netrules.BigCluster(1000, 10)
	r, err := netrules.New(ctx, netrules.Config{NetNSPath: ns.Path()}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if err := r.Sync(ctx, svcs, pods); err != nil {
		b.Fatal(err)
	}
	text, err := r.Dump(ctx)
	if err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(b.TempDir(), "ruleset.nft")
	if err := os.WriteFile(file, []byte("table ip outpost\ndelete table ip outpost\n"+text), 0o644); err != nil {
		b.Fatal(err)
	}

	var full, baseline, change time.Duration
	for i := 0; b.Loop(); i++ {
		// An agent restart: a new Rules replaces the full table, as nft -f
		// below replaces it again.
		r2, err := netrules.New(ctx, netrules.Config{NetNSPath: ns.Path()}, zerolog.Nop())
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := r2.Sync(ctx, svcs, pods); err != nil {
			b.Fatal(err)
		}
		full += time.Since(start)
		_ = r2.Close()

		start = time.Now()
		if err := ns.Do(func() error {
			out, err := exec.Command(nft, "-f", file).CombinedOutput()
			if err != nil {
				return errors.New(strings.TrimSpace(string(out)))
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		baseline += time.Since(start)

		if err := r.Cleanup(ctx); err != nil { // start r over with a full sync
			b.Fatal(err)
		}
		if err := r.Sync(ctx, svcs, pods); err != nil {
			b.Fatal(err)
		}
		const changes = 10
		for k := range changes {
			pods[k*10+3].Ready = !pods[k*10+3].Ready // service k, alternately up and down
			start = time.Now()
			if err := r.Sync(ctx, svcs, pods); err != nil {
				b.Fatal(err)
			}
			change += time.Since(start) / changes
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(full.Microseconds())/1000/n, "ms-full")
	b.ReportMetric(float64(baseline.Microseconds())/1000/n, "baseline:ms-full")
	b.ReportMetric(float64(change.Microseconds())/1000/n, "ms-one-change")
}
