package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime/ctrd"
)

const benchPods = 40

// BenchmarkPodStart: create-to-running latency of one-container pods from a
// local image (sandbox with CNI networking, log files, secure spec), p50
// and p99 over benchPods pods, next to the same-run baseline: the bare
// containerd client creating and starting a container of the same image
// with no CNI and no logs. Pods and baseline containers alternate so noise
// hits both alike.
func BenchmarkPodStart(b *testing.B) {
	e := newEnv(b, withPodNetwork(b))
	ctx := context.Background()
	nsCtx := namespaces.WithNamespace(ctx, ctrd.Namespace)
	p := pod(b, `apiVersion: v1
kind: Pod
metadata: {name: bench}
spec:
  containers:
  - {name: main, image: IMAGE, imagePullPolicy: Never}
`)
	for range b.N {
		var pods, bare []time.Duration
		var conts []client.Container
		for range benchPods {
			began := time.Now()
			e.run(p)
			pods = append(pods, time.Since(began))

			began = time.Now()
			cont := e.newBareContainer("bare")
			conts = append(conts, cont)
			task, err := cont.NewTask(nsCtx, cio.NullIO)
			if err != nil {
				b.Fatal(err)
			}
			if err := task.Start(nsCtx); err != nil {
				b.Fatal(err)
			}
			bare = append(bare, time.Since(began))
		}
		b.StopTimer()
		for _, cont := range conts {
			if task, err := cont.Task(nsCtx, nil); err == nil {
				task.Delete(nsCtx, client.WithProcessKill)
			}
			cont.Delete(nsCtx, client.WithSnapshotCleanup)
		}
		e.removeAll()
		b.StartTimer()
		b.ReportMetric(ms(percentile(pods, 50)), "ms-p50")
		b.ReportMetric(ms(percentile(pods, 99)), "ms-p99")
		b.ReportMetric(ms(percentile(bare, 50)), "baseline:ms-p50")
		b.ReportMetric(ms(percentile(bare, 99)), "baseline:ms-p99")
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRSS: resident memory of the process holding the embedded
// containerd and the runtime, idle and with 10 pods running, and the
// memory of the pods' shims (one per pod).
func BenchmarkRSS(b *testing.B) {
	e := newEnv(b, withPodNetwork(b))
	for range b.N {
		b.ReportMetric(rssMiB(b, "self"), "MiB-idle")
		var pids []uint32
		for i := range 10 {
			_, _, started := e.run(pod(b, strings.ReplaceAll(`apiVersion: v1
kind: Pod
metadata: {name: rss-PODNUM}
spec:
  containers:
  - {name: main, image: IMAGE, imagePullPolicy: Never}
`, "PODNUM", strconv.Itoa(i))))
			pids = append(pids, started[0].PID)
		}
		b.ReportMetric(rssMiB(b, "self"), "MiB-10pods")
		// A shim's private memory is what each pod adds; its RSS counts
		// the binary's pages it shares with the agent and the other shims.
		var shims float64
		for _, pid := range pids {
			shims += privateMiB(b, strconv.Itoa(testenv.ParentPID(int(pid))))
		}
		b.ReportMetric(shims/float64(len(pids)), "MiB-private-per-shim")
		b.StopTimer()
		e.removeAll()
		b.StartTimer()
	}
	b.ReportMetric(0, "ns/op")
}

// rssMiB reads VmRSS of a process after returning freed memory to the OS.
func rssMiB(tb testing.TB, pid string) float64 {
	tb.Helper()
	if pid == "self" {
		debug.FreeOSMemory()
	}
	b, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(kb) / 1024
		}
	}
	tb.Fatalf("no VmRSS for %s", pid)
	return 0
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// privateMiB is a process's private (unshared) memory from smaps_rollup.
func privateMiB(tb testing.TB, pid string) float64 {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", pid, "smaps_rollup"))
	if err != nil {
		tb.Fatal(err)
	}
	kb := 0
	for _, line := range strings.Split(string(b), "\n") {
		for _, key := range []string{"Private_Clean:", "Private_Dirty:"} {
			if v, ok := strings.CutPrefix(line, key); ok {
				n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				kb += n
			}
		}
	}
	return float64(kb) / 1024
}
