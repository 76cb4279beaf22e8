package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/agent/localapi"
	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
)

// TestE2ECorruptStoreRecovered: the agent dies and its state.db is found
// torn (the last writes lost: half the file). The next agent does not
// panic or crash-loop: it moves the file aside, starts with an empty one,
// reports a StoreCorrupted event and node condition, and keeps every pod
// running: the static pod is adopted at once under its old uid (same
// process, restart count 0, no second copy), the pod the control plane sent
// once the broker has delivered its retained document again.
func TestE2ECorruptStoreRecovered(t *testing.T) {
	n := newNode(t)
	const port = 1883 // the agent's own network namespace: nothing else listens there
	n.appendConfig(fmt.Sprintf("mqtt: {brokers: [\"tcp://127.0.0.1:%d\"], backoff: {min: 100ms, max: 1s, reset: 10s}}\n", port))
	n.manifest("local.yaml", httpdPod("local", "static"))
	n.brokerInAgentNet(port)
	n.start()
	doc := filepath.Join(t.TempDir(), "remote.yaml")
	if err := os.WriteFile(doc, []byte(httpdPod("remote", "from-the-control-plane")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := n.ctl(port, "apply", "-f", doc, "--node", "e2e", "--wait", "--timeout", "60s"); err != nil {
		t.Fatalf("outpostctl apply --wait: %v\n%s", err, out)
	}
	n.waitServes("local", "static")
	n.waitServes("remote", "from-the-control-plane")
	before := map[string]int{"local": pidOfPod(t, n, "local"), "remote": pidOfPod(t, n, "remote")}
	uids := map[string]string{"local": podUID(t, n, "local"), "remote": podUID(t, n, "remote")}
	path := filepath.Join(n.data, "state.db")

	n.kill9()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	n.start() // returns once the agent is ready
	ready := time.Since(began)
	running := func(s api.PodStatus) bool {
		return len(s.ContainerStatuses) == 1 && s.ContainerStatuses[0].State.Running != nil
	}
	var took []string
	for _, pod := range []string{"local", "remote"} {
		st := n.waitPod(pod, "running, adopted", running)
		took = append(took, fmt.Sprintf("%s adopted after %s", pod, time.Since(began).Round(time.Millisecond)))
		if cs := st.ContainerStatuses[0]; cs.RestartCount != 0 {
			t.Errorf("%s restarted: %+v", pod, cs)
		}
		if st.UID != uids[pod] {
			t.Errorf("%s's uid %s, was %s: a new pod, not the running one adopted", pod, st.UID, uids[pod])
		}
	}
	t.Logf("corrupt store: agent ready %s after start; %s", ready.Round(time.Millisecond), strings.Join(took, ", "))
	for pod, pid := range before {
		if got := pidOfPod(t, n, pod); got != pid {
			t.Errorf("%s runs as pid %d, was %d", pod, got, pid)
		}
	}
	if pids := n.httpdPIDs(); len(pids) != 2 {
		t.Errorf("%d httpd processes, want 2 (no duplicates): %v", len(pids), pids)
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 {
		t.Errorf("files moved aside: %v, want one", aside)
	}
	eventually(t, 30*time.Second, "a StoreCorrupted=True node condition", func() error {
		out, err := n.cli("get", "nodes", "-o", "json")
		if err != nil {
			return fmt.Errorf("get nodes: %v %s", err, out)
		}
		var nv localapi.NodeView
		if err := json.Unmarshal([]byte(out), &nv); err != nil {
			return err
		}
		if nv.Status == nil || !hasCondition(nv.Status.Conditions, api.NodeStoreCorrupted, api.ConditionTrue) {
			return fmt.Errorf("not in %s", out)
		}
		return nil
	})
	n.stop()

	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.RecentEvents(context.Background(), "node", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(evs, func(e api.Event) bool {
		return e.Reason == ReasonStoreCorrupted && e.Type == api.EventWarning && strings.Contains(e.Message, aside[0])
	}) {
		t.Errorf("no StoreCorrupted event naming %v: %+v", aside, evs)
	}
}

func podUID(t testing.TB, n *node, name string) string {
	t.Helper()
	st, err := n.pod(name)
	if err != nil {
		t.Fatal(err)
	}
	return st.UID
}

func hasCondition(conds []api.NodeCondition, typ, status string) bool {
	return slices.ContainsFunc(conds, func(c api.NodeCondition) bool { return c.Type == typ && c.Status == status })
}
