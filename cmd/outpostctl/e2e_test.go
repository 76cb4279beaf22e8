package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/mqtttest"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// runCtl runs outpostctl in-process and returns its exit code and output.
func runCtl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	t.Logf("outpostctl %s -> %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	return code, out.String(), errb.String()
}

func writeManifests(t *testing.T, pods ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range pods {
		m := fmt.Sprintf("apiVersion: outpost.dev/v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  containers: [{name: c, image: 'busybox:1.36'}]\n", p)
		if err := os.WriteFile(filepath.Join(dir, p+".yaml"), []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// columns finds the table row that starts with name and splits it.
func columns(out, name string) []string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return f
		}
	}
	return nil
}

// apply, the link stores it, the status reports it, apply --wait returns;
// get nodes shows the node online with its generations; describe and get
// pods read its report. The connection comes from an agent configuration
// file (--config), the way an operator on a node would reuse it.
func TestApplyWaitGetDescribe(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	n := mqtttest.StartNode(t, mqtttest.FastConfig(b.URL()), "n1", mqtttest.NodeOptions{})
	mqtttest.Eventually(t, 30*time.Second, "node connected", n.Connected)
	conf := filepath.Join(t.TempDir(), "config.yaml")
	agentConf := fmt.Sprintf("nodeName: n1\ndataDir: /var/lib/outpost\nmqtt:\n  brokers: [%s]\n  keepAlive: 10s\n", b.URL())
	if err := os.WriteFile(conf, []byte(agentConf), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := writeManifests(t, "web", "db")

	code, out, _ := runCtl(t, "apply", "-f", dir, "--node", "n1", "--config", conf, "--wait", "--timeout", "20s")
	if code != 0 || !strings.Contains(out, "node/n1 generation 1 published (2 pods, 0 services)") || !strings.Contains(out, "1 of 1 node(s) observed node/n1 generation 1") {
		t.Fatalf("apply: exit %d", code)
	}
	if g := n.Generation(t, store.SourceNode); g != 1 {
		t.Fatalf("stored generation %d, want 1", g)
	}
	if code, out, _ = runCtl(t, "apply", "-f", dir, "--node", "n1", "--config", conf); code != 0 || !strings.Contains(out, "unchanged (generation 1)") {
		t.Fatalf("second apply: exit %d", code)
	}

	// A pod status the (absent) runtime would have written.
	start := time.Now().Add(-time.Minute)
	ps := api.PodStatus{Source: "remote:node", Name: "web", Phase: api.PodRunning, PodIP: "10.88.0.7", StartTime: &start,
		Conditions:        []api.PodCondition{{Type: api.PodReady, Status: "True"}},
		ContainerStatuses: []api.ContainerStatus{{Name: "c", Ready: true, State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: start}}}}}
	if err := n.Store.PutPodStatus(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	mqtttest.Eventually(t, 30*time.Second, "get nodes shows the pod", func() bool {
		_, out, _ := runCtl(t, "get", "nodes", "--broker", b.URL())
		c := columns(out, "n1")
		return len(c) == 7 && c[1] == "true" && c[2] == "node=1" && c[3] == "node=1" && c[4] == "1/1" && c[6] == "test"
	})
	code, out, _ = runCtl(t, "get", "pods", "--node", "n1", "--broker", b.URL())
	if c := columns(out, "web"); code != 0 || len(c) != 7 || c[1] != "1/1" || c[2] != "Running" || c[5] != "10.88.0.7" || c[6] != "node" {
		t.Fatalf("get pods: %q", c)
	}
	code, out, _ = runCtl(t, "describe", "node", "n1", "--broker", b.URL())
	for _, want := range []string{"Online:         true, connected", "remote:node", "Pods:", "web"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("describe lacks %q", want)
		}
	}
	if !regexp.MustCompile(`remote:node\s+1\s+1`).MatchString(out) {
		t.Fatal("describe does not show desired 1, observed 1")
	}
}

// A group document reaches its members; the first apply names them, the
// second finds them from their reports.
func TestGroupApplyWait(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	cfg := mqtttest.FastConfig(b.URL())
	a := mqtttest.StartNode(t, cfg, "a", mqtttest.NodeOptions{Groups: []string{"edge"}})
	bn := mqtttest.StartNode(t, cfg, "b", mqtttest.NodeOptions{Groups: []string{"edge", "x"}})
	for _, n := range []*mqtttest.Node{a, bn} {
		mqtttest.Eventually(t, 30*time.Second, "connected", n.Connected)
	}
	code, out, _ := runCtl(t, "apply", "-f", writeManifests(t, "app"), "--group", "edge", "--broker", b.URL(), "--wait", "--nodes", "a,b", "--timeout", "20s")
	if code != 0 || !strings.Contains(out, "2 of 2 node(s) observed group/edge generation 1") {
		t.Fatalf("first group apply: exit %d", code)
	}
	code, out, _ = runCtl(t, "apply", "-f", writeManifests(t, "app", "more"), "--group", "edge", "--broker", b.URL(), "--wait", "--timeout", "20s")
	if code != 0 || !strings.Contains(out, "2 of 2 node(s) observed group/edge generation 2") {
		t.Fatalf("second group apply: exit %d", code)
	}
	_, out, _ = runCtl(t, "get", "nodes", "--broker", b.URL())
	if c := columns(out, "b"); len(c) < 4 || c[2] != "edge=2" || c[3] != "edge=2" {
		t.Fatalf("get nodes row of b: %q", c)
	}
}

// A link with trusted keys accepts what apply --key signs and rejects an
// unsigned apply, which --wait reports with the node's reason (exit 1).
func TestSignedApply(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	key := filepath.Join(t.TempDir(), "cp.key")
	code, out, _ := runCtl(t, "keygen", "-o", key)
	if code != 0 {
		t.Fatal("keygen failed")
	}
	m := regexp.MustCompile(`(?m)^    (ed25519-[0-9a-f]{16}): (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("keygen did not print a trustedKeys entry")
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, st.Mode())
	}
	cfg := mqtttest.FastConfig(b.URL())
	cfg.TrustedKeys = map[string]string{m[1]: m[2]}
	n := mqtttest.StartNode(t, cfg, "n1", mqtttest.NodeOptions{})
	mqtttest.Eventually(t, 30*time.Second, "node connected", n.Connected)

	dir := writeManifests(t, "web")
	code, out, _ = runCtl(t, "apply", "-f", dir, "--node", "n1", "--key", key, "--broker", b.URL(), "--wait", "--timeout", "20s")
	if code != 0 || !strings.Contains(out, "signed by "+m[1]) || n.Generation(t, store.SourceNode) != 1 {
		t.Fatalf("signed apply: exit %d, generation %d", code, n.Generation(t, store.SourceNode))
	}
	code, out, _ = runCtl(t, "apply", "-f", writeManifests(t, "evil"), "--node", "n1", "--broker", b.URL(), "--wait", "--timeout", "20s")
	if code != 1 || !strings.Contains(out, "SignatureRejected") || !strings.Contains(out, "REJECTED BY") {
		t.Fatalf("unsigned apply: exit %d, want 1 and the rejection", code)
	}
	if g := n.Generation(t, store.SourceNode); g != 1 {
		t.Fatalf("stored generation %d after the unsigned apply, want 1", g)
	}

	// sign prints an envelope the node's check accepts on the topic it names.
	code, out, _ = runCtl(t, "sign", "-f", dir, "--key", key, "--node", "n1", "--generation", "7")
	keys, _ := protocol.ParseKeys(cfg.TrustedKeys)
	if d, err := protocol.Decode([]byte(strings.TrimSpace(out)), keys, "outpost/v1/nodes/n1/desired"); code != 0 || err != nil || !d.Verified || d.State.Generation != 7 {
		t.Fatalf("sign output does not verify: %v", err)
	}
}

// sign binds the envelope to the topic --node or --group names under the
// prefix (--prefix, else the --config file's, else outpost/v1); a node
// reading it on any other topic rejects it. Without a target it is a usage
// error.
func TestSignTarget(t *testing.T) {
	dir := t.TempDir()
	// Hermetic: no configuration file is found unless --config names one.
	t.Setenv("OUTPOSTCTL_CONFIG", "")
	t.Setenv("HOME", dir)
	key := filepath.Join(dir, "cp.key")
	code, out, _ := runCtl(t, "keygen", "-o", key)
	m := regexp.MustCompile(`(?m)^    (ed25519-[0-9a-f]{16}): (\S+)$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatal("keygen failed")
	}
	keys, err := protocol.ParseKeys(map[string]string{m[1]: m[2]})
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "outpostctl.yaml")
	if err := os.WriteFile(conf, []byte("prefix: acme/prod\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	manifests := writeManifests(t, "web")
	tests := []struct {
		name      string
		args      []string
		code      int
		topic     string // where a node accepts it
		elsewhere string // where a node rejects it
		stderr    string
	}{
		{"node", []string{"--node", "gw-1"}, 0, "outpost/v1/nodes/gw-1/desired", "outpost/v1/nodes/gw-2/desired", "signed for outpost/v1/nodes/gw-1/desired"},
		{"group", []string{"--group", "edge"}, 0, "outpost/v1/groups/edge/desired", "outpost/v1/groups/core/desired", ""},
		{"group under --prefix", []string{"--group", "edge", "--prefix", "acme/prod"}, 0, "acme/prod/groups/edge/desired", "outpost/v1/groups/edge/desired", ""},
		{"prefix from --config", []string{"--group", "edge", "--config", conf}, 0, "acme/prod/groups/edge/desired", "outpost/v1/groups/edge/desired", ""},
		{"no target", nil, 2, "", "", "give --node N or --group G"},
		{"two targets", []string{"--node", "gw-1", "--group", "edge"}, 2, "", "", "give --node N or --group G"},
		{"invalid node name", []string{"--node", "a/b"}, 2, "", "", "node name"},
		{"invalid prefix", []string{"--node", "gw-1", "--prefix", "a/+"}, 1, "", "", "prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"sign", "-f", manifests, "--key", key, "--generation", "3"}, tt.args...)
			code, out, errs := runCtl(t, args...)
			if code != tt.code || !strings.Contains(errs, tt.stderr) {
				t.Fatalf("exit %d, want %d with %q on stderr", code, tt.code, tt.stderr)
			}
			if tt.code != 0 {
				return
			}
			env := []byte(strings.TrimSpace(out))
			if d, err := protocol.Decode(env, keys, tt.topic); err != nil || !d.Verified || d.State.Generation != 3 {
				t.Fatalf("on %s: %v, want accepted", tt.topic, err)
			}
			if _, err := protocol.Decode(env, keys, tt.elsewhere); !errors.Is(err, protocol.ErrSignature) {
				t.Fatalf("on %s: %v, want SignatureRejected", tt.elsewhere, err)
			}
		})
	}
}

// --wait gives up at --timeout and says who has not observed (exit 1).
func TestApplyWaitTimeout(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	code, out, errs := runCtl(t, "apply", "-f", writeManifests(t, "web"), "--node", "ghost", "--broker", b.URL(), "--wait", "--timeout", "500ms")
	if code != 1 || columns(out, "ghost") == nil || !strings.Contains(errs, "1 of 1 node(s) did not report") {
		t.Fatalf("exit %d, want 1 naming ghost", code)
	}
}

// events prints what the nodes publish while it listens, and stops
// listening when --for is over.
func TestEvents(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	n := mqtttest.StartNode(t, mqtttest.FastConfig(b.URL()), "n1", mqtttest.NodeOptions{})
	mqtttest.Eventually(t, 30*time.Second, "node connected", n.Connected)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	baseContext = func() context.Context { return ctx }
	defer func() { baseContext = context.Background }()
	out, errb := &testenv.Buffer{}, &testenv.Buffer{}
	done := make(chan int, 1)
	// A window no loaded machine misses; the test ends it once it has
	// seen what it wants.
	go func() {
		done <- run([]string{"events", "--node", "n1", "--for", "60s", "--broker", b.URL()}, out, errb)
	}()
	// Events are not retained: record them until one is printed.
	line := regexp.MustCompile(`(?m)^\S+  n1  Normal  Probe  node  tick \d+$`)
	i := 0
	mqtttest.Eventually(t, 30*time.Second, "an event printed", func() bool {
		ev := api.Event{Type: api.EventNormal, Reason: "Probe", Message: fmt.Sprint("tick ", i), Object: "node", Time: time.Now()}
		i++
		if err := n.Store.RecordEvent(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		return line.MatchString(out.String())
	})
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("events: exit %d, stderr %s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("events did not end when interrupted")
	}
	// A window over at once ends the command by itself, saying why
	// nothing was printed.
	baseContext = context.Background
	go func() {
		code, _, errs := runCtl(t, "events", "--node", "n1", "--for", "1ms", "--broker", b.URL())
		if code != 0 || !strings.Contains(errs, "no events in 1ms") {
			t.Errorf("events --for 1ms: exit %d, stderr %s", code, errs)
		}
		done <- code
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("events --for 1ms still listens after 30 s")
	}
}

// events -f keeps following through a broker crash: it reconnects and
// prints what the node publishes after the restart.
func TestEventsFollowThroughBrokerRestart(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	n := mqtttest.StartNode(t, mqtttest.FastConfig(b.URL()), "n1", mqtttest.NodeOptions{})
	mqtttest.Eventually(t, 30*time.Second, "node connected", n.Connected)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	baseContext = func() context.Context { return ctx }
	defer func() { baseContext = context.Background }()
	out := &testenv.Buffer{}
	done := make(chan int, 1)
	go func() { done <- run([]string{"events", "-f", "--broker", b.URL()}, out, out) }()

	record := func(msg string) func() bool {
		return func() bool {
			ev := api.Event{Type: api.EventNormal, Reason: "Probe", Message: msg, Object: "node", Time: time.Now()}
			if err := n.Store.RecordEvent(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			return strings.Contains(out.String(), msg)
		}
	}
	mqtttest.Eventually(t, 30*time.Second, "an event before the crash", record("before"))
	b.Kill()
	b.Restart()
	mqtttest.Eventually(t, 30*time.Second, "an event after the restart", record("after"))
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("events -f exit %d:\n%s", code, out.String())
	}
	t.Logf("output:\n%s", out.String())
}
