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
// is left running until the (unreachable) broker sends it again.
func TestE2ECorruptStoreRecovered(t *testing.T) {
	n := newNode(t)
	n.appendConfig("mqtt: {brokers: [\"tcp://127.0.0.1:1\"]}\n")
	n.manifest("local.yaml", httpdPod("local", "static"))
	ns, err := api.ParseManifest([]byte(httpdPod("remote", "from-the-control-plane")))
	if err != nil {
		t.Fatal(err)
	}
	ns.Generation = 3
	path := filepath.Join(n.data, "state.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(context.Background(), store.SourceNode, ns); err != nil {
		t.Fatal(err)
	}
	st.Close()

	n.start()
	n.waitServes("local", "static")
	n.waitServes("remote", "from-the-control-plane")
	before := map[string]int{"local": pidOfPod(t, n, "local"), "remote": pidOfPod(t, n, "remote")}
	localUID := podUID(t, n, "local")

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
	st2 := n.waitPod("local", "running, adopted", func(s api.PodStatus) bool {
		return len(s.ContainerStatuses) == 1 && s.ContainerStatuses[0].State.Running != nil
	})
	adopted := time.Since(began)
	t.Logf("corrupt store: agent ready %s after start, static pod adopted after %s", ready.Round(time.Millisecond), adopted.Round(time.Millisecond))
	if cs := st2.ContainerStatuses[0]; cs.RestartCount != 0 {
		t.Errorf("local restarted: %+v", cs)
	}
	if got := podUID(t, n, "local"); got != localUID {
		t.Errorf("local's uid %s, was %s: a new pod, not the running one adopted", got, localUID)
	}
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

	st, err = store.Open(path, store.Options{})
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
