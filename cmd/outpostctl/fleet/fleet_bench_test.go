package fleet

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/mqttlink"
	"github.com/outpost-edge/outpost/sync/mqtttest"
)

// BenchmarkFleetStandInRuntime runs N simulated nodes in this process
// against one mosquitto on this machine, at the link's default settings
// (status interval 1s, heartbeat 60s, keep-alive 30s, backoff 1s to 2min
// with full jitter). Each node is a real mqttlink.Link over a real bbolt
// store in a temp dir with a STAND-IN RUNTIME: nothing runs pods; the
// generation the link reports as observed is the one the store applied
// (the link's status reporter reads it from the store, as on a real node).
//
// It measures, once per N (b.N is ignored: one run is the measurement):
//
//   - s-apply-to-observed-N: from the start of one group apply (fleet.Apply:
//     read the retained group document, publish the next one retained) to
//     the moment every node's status report carries that generation
//     (fleet.Watcher, watching all N status topics). Checked afterwards: every
//     store holds the generation.
//   - s-reconnect-N: the broker is killed (SIGKILL) and restarted at once on
//     the same port, without persistence (every session is lost, every node
//     subscribes again); from the restart until every link is connected
//     again (polled every 100ms).
//   - attempts-per-s-peak-N: the most TCP connections the nodes opened in
//     any one-second window from the kill on, counted at a relay in front of
//     the broker (an attempt while the broker is down is accepted by the
//     relay and closed at once, so it is counted too).
func BenchmarkFleetStandInRuntime(b *testing.B) {
	limit := raiseNoFile(b)
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			if need := uint64(5*n + 256); limit < need {
				b.Skipf("open-file limit %d, %d nodes need about %d", limit, n, need)
			}
			benchFleet(b, n)
		})
	}
}

func benchFleet(b *testing.B, n int) {
	br := mqtttest.Start(b, mqtttest.Options{})
	relay := mqtttest.NewRelay(b, br.Addr())
	cfg := mqttlink.DefaultConfig()
	cfg.Brokers = []string{relay.URL()}
	dir := b.TempDir()
	began := time.Now()
	nodes := make([]*mqtttest.Node, n)
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("node-%04d", i)
		nodes[i] = mqtttest.StartNode(b, cfg, names[i], mqtttest.NodeOptions{Groups: []string{"fleet"}, Dir: dir})
	}
	// Stop the links together: one by one, N goodbyes add up.
	defer stopAll(nodes)
	waitConnected(b, nodes, 2*time.Minute)
	b.Logf("runtime: stand-in (nothing runs pods; observed = the store's applied generation); %d nodes connected in %s",
		n, time.Since(began).Round(time.Millisecond))

	ccfg := mqttlink.DefaultConfig()
	ccfg.Brokers = []string{br.URL()}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Dial(ctx, ccfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tgt := Target{Group: "fleet"}
	w, err := c.Watch(ctx, tgt, names)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	ns, err := Assemble([]Manifest{{Name: "app.yaml", Data: []byte(
		"apiVersion: outpost.dev/v1\nkind: Pod\nmetadata: {name: app}\nspec:\n  containers: [{name: c, image: 'busybox:1.36'}]\n")}})
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	t0 := time.Now()
	res, err := c.Apply(ctx, tgt, ns, ApplyOptions{})
	if err != nil {
		b.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	p, err := w.Wait(wctx, res.Generation, res.SHA256)
	wcancel()
	applyToObserved := time.Since(t0)
	b.StopTimer()
	if err != nil {
		b.Fatalf("%v (%d observed)", err, len(p.Observed))
	}
	src, _ := store.GroupSource("fleet")
	for _, nd := range nodes {
		if g := nd.Generation(b, src); g != res.Generation {
			b.Fatalf("%s: store holds generation %d, the report said %d", nd.Name, g, res.Generation)
		}
	}

	killed := time.Now()
	br.Kill()
	br.Restart()
	restarted := time.Now()
	waitConnected(b, nodes, 2*time.Minute)
	reconnect := time.Since(restarted)
	accepts := relay.Accepts()
	attempts := 0
	for _, a := range accepts {
		if !a.Before(killed) {
			attempts++
		}
	}
	peak := mqtttest.PeakPerSecond(accepts, killed)

	b.ReportMetric(applyToObserved.Seconds(), fmt.Sprintf("s-apply-to-observed-%d", n))
	b.ReportMetric(reconnect.Seconds(), fmt.Sprintf("s-reconnect-%d", n))
	b.ReportMetric(float64(peak), fmt.Sprintf("attempts-per-s-peak-%d", n))
	b.ReportMetric(0, "ns/op")
	b.Logf("apply generation %d to %d observed: %s; broker down %s; all reconnected %s after the restart with %d attempts (peak %d in 1s)",
		res.Generation, len(p.Observed), applyToObserved.Round(time.Millisecond), restarted.Sub(killed).Round(time.Millisecond),
		reconnect.Round(time.Millisecond), attempts, peak)
}

// waitConnected polls the links not yet connected every 100ms.
func waitConnected(b *testing.B, nodes []*mqtttest.Node, timeout time.Duration) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	pending := nodes
	for {
		left := pending[:0:0]
		for _, nd := range pending {
			if !nd.Connected() {
				left = append(left, nd)
			}
		}
		if pending = left; len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d nodes not connected after %s (first: %s, %+v)", len(pending), len(nodes), timeout,
				pending[0].Name, pending[0].Link.State())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func stopAll(nodes []*mqtttest.Node) {
	var wg sync.WaitGroup
	for _, nd := range nodes {
		if nd == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = nd.Stop() }()
	}
	wg.Wait()
}

// raiseNoFile lifts the open-file limit to its hard limit: every node holds
// a bbolt file and a socket, the relay two sockets per node, and mosquitto
// (started by this process) inherits the limit for its own.
func raiseNoFile(b *testing.B) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			b.Fatal(err)
		}
	}
	return lim.Cur
}
