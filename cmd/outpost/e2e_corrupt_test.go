package main

import (
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

	evs := storedNodeEvents(t, path)
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

// TestE2EStoreCorruptAtRunTime: the state file is damaged under a running
// agent (here: cut to its two meta pages). The next read or write makes
// bbolt fault; the agent does not crash on it, it stops with an error
// (leaving the containers running) and a marker, and the next start moves
// the file aside and adopts the running pod: no crash loop.
func TestE2EStoreCorruptAtRunTime(t *testing.T) {
	n := newNode(t)
	n.manifest("local.yaml", httpdPod("local", "static"))
	n.start()
	n.waitServes("local", "static")
	pid := pidOfPod(t, n, "local")
	uid := podUID(t, n, "local")
	path := filepath.Join(n.data, "state.db")

	if err := os.Truncate(path, 8192); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- n.agent.Wait() }()
	var exitErr error
	eventually(t, 60*time.Second, "the agent stops on the corrupt store", func() error {
		_, _ = n.cli("get", "pods") // a read of the store
		select {
		case exitErr = <-exited:
			return nil
		default:
			return fmt.Errorf("still running")
		}
	})
	n.agent = nil
	if exitErr == nil {
		t.Fatalf("the agent exited with status 0 on a corrupt store")
	}
	if strings.Contains(n.logs.String(), "panic:") || strings.Contains(n.logs.String(), "fatal error:") {
		t.Fatalf("the agent crashed instead of stopping:\n%s", n.logs.String())
	}
	if _, err := os.Stat(path + ".corrupt-found"); err != nil {
		t.Fatalf("no marker for the next start: %v", err)
	}

	n.start()
	st := n.waitPod("local", "adopted", func(s api.PodStatus) bool {
		return len(s.ContainerStatuses) == 1 && s.ContainerStatuses[0].State.Running != nil
	})
	if st.UID != uid || st.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("local after the recovery: uid %s (was %s), %+v", st.UID, uid, st.ContainerStatuses[0])
	}
	if got := pidOfPod(t, n, "local"); got != pid {
		t.Errorf("local runs as pid %d, was %d", got, pid)
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*T*"); len(aside) != 1 {
		t.Errorf("files moved aside: %v, want one", aside)
	}
	if _, err := os.Stat(path + ".corrupt-found"); !os.IsNotExist(err) {
		t.Errorf("marker still there after the recovery: %v", err)
	}
	n.stop()
}
