package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/agent/localapi"
)

const benchPods = 20

// benchPod is a small healthy pod: httpd with a TCP readiness probe.
func benchPod(i int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: bench-%02d}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: outpost.local/busybox:test
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /www && echo %d > /www/index.html && exec httpd -f -p 8080 -h /www"]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 10}
`, i, i)
}

// runningPods counts the pods whose container runs and started after since,
// through the CLI.
func (n *node) runningPods(since time.Time) (int, error) {
	out, err := n.cli("get", "pods", "-o", "json")
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	var list localapi.PodList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return 0, err
	}
	running := 0
	for _, p := range list.Items {
		if p.Status == nil || len(p.Status.ContainerStatuses) == 0 {
			continue
		}
		if r := p.Status.ContainerStatuses[0].State.Running; r != nil && !r.StartedAt.Before(since.Truncate(time.Second)) {
			running++
		}
	}
	return running, nil
}

// BenchmarkColdBoot: time from `outpost agent` starting to 20 pods running,
// after a power cut (no container left, /run wiped): the pods come from the
// store and the local images alone. Also the agent's RSS with the 20 pods
// and its CPU use over 60 s once they are healthy.
func BenchmarkColdBoot(b *testing.B) {
	n := newNode(b)
	var docs []string
	for i := range benchPods {
		docs = append(docs, benchPod(i))
	}
	n.manifest("bench.yaml", strings.Join(docs, "---\n"))
	n.start()
	eventually(b, 60*time.Second, "20 pods running", func() error {
		if c, err := n.runningPods(time.Time{}); err != nil || c < benchPods {
			return fmt.Errorf("%d running (%v)", c, err)
		}
		return nil
	})
	var boots []time.Duration
	for range b.N {
		b.StopTimer()
		n.kill9()
		killShims(b, n)
		wipeRun(b, n.state)
		b.StartTimer()
		began := time.Now()
		n.start()
		eventually(b, 60*time.Second, "20 pods running again", func() error {
			if c, err := n.runningPods(began); err != nil || c < benchPods {
				return fmt.Errorf("%d running (%v)", c, err)
			}
			return nil
		})
		boots = append(boots, time.Since(began))
	}
	var total time.Duration
	for _, d := range boots {
		total += d
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(len(boots)), "ms-to-20-pods")

	pid := strconv.Itoa(n.agent.Process.Pid)
	time.Sleep(65 * time.Second) // let start-up work settle and its pages be handed back
	b.ReportMetric(statusKB(b, pid, "VmRSS")/1024, "MiB-rss-20-pods")
	cpu0 := cpuTicks(b, pid)
	time.Sleep(60 * time.Second)
	cpu1 := cpuTicks(b, pid)
	// Clock ticks are 1/100 s: ticks over 6000 (60 s) is the share of a core.
	b.ReportMetric(float64(cpu1-cpu0)/6000*100, "%cpu-idle-20-pods")
	b.ReportMetric(0, "ns/op")
	n.stop()
}

func statusKB(tb testing.TB, pid, key string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(kb)
		}
	}
	return 0
}

// cpuTicks is utime+stime of a process, in clock ticks.
func cpuTicks(tb testing.TB, pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// BenchmarkAgentIdleRSS: resident memory of `outpost agent` (the real
// binary, embedded containerd included) with no pods, 70 s after it is
// ready (after its start-up pages were handed back, see dropColdPages).
func BenchmarkAgentIdleRSS(b *testing.B) {
	n := newNode(b)
	for range b.N {
		n.start()
		time.Sleep(70 * time.Second)
		pid := strconv.Itoa(n.agent.Process.Pid)
		b.ReportMetric(statusKB(b, pid, "VmRSS")/1024, "MiB-rss-idle")
		b.ReportMetric(statusKB(b, pid, "RssAnon")/1024, "MiB-anon-idle")
		n.stop()
	}
	b.ReportMetric(0, "ns/op")
}
