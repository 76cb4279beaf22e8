package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/clock"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/protocol"
)

type sent struct {
	topic   string
	retain  bool
	payload []byte
}

// fakePub records publishes; failAfter > 0 fails the publishes after that many.
type fakePub struct {
	mu        sync.Mutex
	msgs      []sent
	failAfter int
}

func (f *fakePub) Publish(topic string, _ byte, retain bool, payload []byte) func(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, sent{topic, retain, payload})
	if f.failAfter > 0 && len(f.msgs) > f.failAfter {
		return func(context.Context) error { return errors.New("connection lost") }
	}
	return func(context.Context) error { return nil }
}

func openStore(t *testing.T) *store.Store {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestStatusCoalescesAndBeats(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := clock.NewFake(time.Unix(1e9, 0))
	topics, _ := protocol.NewTopics("", "n1")
	s := NewStatus(st, StatusOptions{Node: "n1", Topics: topics, Interval: time.Second, Heartbeat: time.Minute, Clock: clk})
	pub := &fakePub{}
	steps := []struct {
		name    string
		change  func()
		advance time.Duration
		want    string // "report", "heartbeat" or ""
	}{
		{"first tick always reports", nil, 0, "report"},
		{"nothing changed", nil, time.Second, ""},
		{"two pod changes coalesce into one report", func() {
			_ = st.PutPodStatus(ctx, api.PodStatus{Source: "static", Name: "a", Phase: api.PodPending})
			_ = st.PutPodStatus(ctx, api.PodStatus{Source: "static", Name: "a", Phase: api.PodRunning})
		}, time.Second, "report"},
		{"node status appears", func() {
			b, _ := json.Marshal(api.NodeStatus{Name: "n1", Time: clk.Now()})
			_ = st.PutNodeStatus(ctx, b)
		}, time.Second, "report"},
		{"re-measured node status, only its time moved", func() {
			b, _ := json.Marshal(api.NodeStatus{Name: "n1", Time: clk.Now().Add(time.Hour)})
			_ = st.PutNodeStatus(ctx, b)
		}, time.Second, ""},
		{"silence reaches the heartbeat", nil, time.Minute, "heartbeat"},
	}
	for i, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.change != nil {
				step.change()
			}
			clk.Advance(step.advance)
			before := len(pub.msgs)
			if err := s.tick(ctx, pub, i == 0); err != nil {
				t.Fatal(err)
			}
			got := ""
			if len(pub.msgs) > before {
				m := pub.msgs[len(pub.msgs)-1]
				got = map[bool]string{true: "report", false: "heartbeat"}[m.retain]
				if m.topic != topics.Status() {
					t.Fatalf("topic %s", m.topic)
				}
			}
			if got != step.want {
				t.Fatalf("published %q, want %q", got, step.want)
			}
		})
	}
}

// A realistic report: measured for the protocol doc.
func TestReportSize(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Unix(1.8e9, 0).UTC()
	ns := api.NodeStatus{Name: "pi-0042", Time: now,
		Capacity:    api.ResourceList{"cpu": api.MustParseQuantity("4"), "memory": api.MustParseQuantity("3872Mi"), "pods": api.MustParseQuantity("110")},
		Allocatable: api.ResourceList{"cpu": api.MustParseQuantity("3900m"), "memory": api.MustParseQuantity("3644Mi"), "pods": api.MustParseQuantity("110")},
		NodeInfo:    api.NodeInfo{Architecture: "arm64", OperatingSystem: "linux", KernelVersion: "6.6.51", AgentVersion: "v0.3.0", ContainerdVersion: "2.1.4"}}
	for _, c := range []string{api.NodeReady, api.NodeMemoryPressure, api.NodeDiskPressure, api.NodePIDPressure} {
		ns.Conditions = append(ns.Conditions, api.NodeCondition{Type: c, Status: api.ConditionFalse, LastTransitionTime: now})
	}
	b, _ := json.Marshal(ns)
	_ = st.PutNodeStatus(ctx, b)
	for i := range 10 {
		_ = st.PutPodStatus(ctx, api.PodStatus{Source: "remote:node", Name: fmt.Sprintf("pod-%d", i), UID: "0123456789abcdef0123456789abcdef",
			Phase: api.PodRunning, PodIP: "10.88.0.12", StartTime: &now,
			Conditions: []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: now}},
			ContainerStatuses: []api.ContainerStatus{{Name: "app", Ready: true, Started: true, Image: "registry.example/app:1.2",
				State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: now}}}}})
	}
	topics, _ := protocol.NewTopics("", "pi-0042")
	s := NewStatus(st, StatusOptions{Node: "pi-0042", Topics: topics, Interval: time.Second, Heartbeat: time.Minute, Logger: zerolog.Nop()})
	pub := &fakePub{}
	if err := s.tick(ctx, pub, true); err != nil {
		t.Fatal(err)
	}
	t.Logf("node report with node status and 10 running pods: %d bytes", len(pub.msgs[0].payload))
}

func TestDrainerAcksOnlyWhatTheBrokerHas(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	for i := range 5 {
		_ = st.RecordEvent(ctx, api.Event{Type: api.EventNormal, Reason: "R", Message: fmt.Sprint(i), Object: "node"})
	}
	topics, _ := protocol.NewTopics("", "n1")
	d := NewDrainer(st, topics, 16, zerolog.Nop(), nil)
	pub := &fakePub{failAfter: 3}
	if err := d.Run(ctx, pub); err == nil {
		t.Fatal("Run = nil, want the publish failure")
	}
	left, _ := st.Peek(ctx, 10)
	if len(left) != 2 || left[0].Seq != 4 {
		t.Fatalf("outbox after a failure at the 4th = %+v, want seq 4 and 5 left", left)
	}
	for i, m := range pub.msgs[:3] {
		ev := protocol.Event{}
		if err := json.Unmarshal(m.payload, &ev); err != nil || ev.Seq != uint64(i+1) || ev.Node != "n1" || m.topic != topics.Events() {
			t.Fatalf("message %d = %s on %s", i, m.payload, m.topic)
		}
	}
}

// TestClusterIPAllocatedAfterTheDocument: the agent allocates a service's
// cluster IP after the document naming the service was stored, with no
// new generation; the next report carries it.
func TestClusterIPAllocatedAfterTheDocument(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	clk := clock.NewFake(time.Unix(1e9, 0))
	topics, _ := protocol.NewTopics("", "n1")
	s := NewStatus(st, StatusOptions{Node: "n1", Topics: topics, Interval: time.Second, Heartbeat: time.Minute, Clock: clk})
	pub := &fakePub{}
	ns, err := api.ParseManifest([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	ns.Generation = 1
	if _, err := st.Apply(ctx, store.SourceNode, ns); err != nil {
		t.Fatal(err)
	}
	report := func() *protocol.NodeReport {
		t.Helper()
		if err := s.tick(ctx, pub, true); err != nil {
			t.Fatal(err)
		}
		var r protocol.NodeReport
		if err := json.Unmarshal(pub.msgs[len(pub.msgs)-1].payload, &r); err != nil {
			t.Fatal(err)
		}
		return &r
	}
	if r := report(); len(r.Services) != 1 || r.Services[0].ClusterIP != "" {
		t.Fatalf("services before allocation: %+v", r.Services)
	}
	ip, err := st.AllocateClusterIP(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if r := report(); len(r.Services) != 1 || r.Services[0].ClusterIP != ip.String() {
		t.Fatalf("services after allocating %s: %+v", ip, r.Services)
	}
}
