package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/agent/localapi"
	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/logs"
	"github.com/outpost-edge/outpost/runtime/podfiles"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
	"github.com/outpost-edge/outpost/store"
)

// cliRuntime stands in for the runtime's List and Exec: exec echoes stdin
// and exits with the code named by its last argument.
type cliRuntime struct{ obs []runtimeapi.Observed }

func (r *cliRuntime) List(context.Context) ([]runtimeapi.Observed, error) { return r.obs, nil }

func (r *cliRuntime) Exec(_ context.Context, _ string, req runtimeapi.ExecRequest) (int, error) {
	if req.Stdin != nil {
		io.Copy(req.Stdout, req.Stdin)
	}
	io.WriteString(req.Stderr, "on stderr\n")
	code := 0
	if last := req.Cmd[len(req.Cmd)-1]; strings.HasPrefix(last, "exit=") {
		code = int(last[len("exit=")] - '0')
	}
	return code, nil
}

const cliPod = `apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  containers:
  - {name: nginx, image: "nginx:1.27", ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
`

// TestCLIEndToEnd runs the CLI commands against a local API server on a
// temporary socket, over a real store and a real manifest directory.
func TestCLIEndToEnd(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rt := &cliRuntime{}
	manifests := filepath.Join(dir, "manifests")
	srv := localapi.New(&localapi.StoreBackend{Store: st, Runtime: rt, Static: localapi.NewManifestDir(manifests, zerolog.Nop())},
		localapi.Options{DataDir: dir, NodeName: "pi-01"})
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(sctx) }()
	defer func() { stop(); <-done }()
	<-srv.Ready()
	sock := srv.Socket()

	cli := func(t *testing.T, wantCode int, args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append(args[:1:1], append([]string{"--socket", sock}, args[1:]...)...)
		if code := run(args, &out, &errOut); code != wantCode {
			t.Fatalf("outpost %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}
	expect := func(t *testing.T, got string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(got, w) {
				t.Errorf("output lacks %q:\n%s", w, got)
			}
		}
	}

	// apply writes the manifest directory; the agent's watcher (not running
	// here) would turn it into the static source, which seed does instead.
	file := filepath.Join(dir, "web.yaml")
	if err := os.WriteFile(file, []byte(cliPod), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := cli(t, 0, "apply", "-f", file)
	expect(t, out, "pod/web created\n", "service/web created\n")
	out, _ = cli(t, 0, "apply", "-f", file)
	expect(t, out, "pod/web unchanged\n")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(cliPod, "image:", "imagee:", 1)), 0o600)
	_, errOut := cli(t, 1, "apply", "-f", bad)
	expect(t, errOut, bad+": line 6: pods[web].spec.containers[0].imagee: unknown field", "1 of 1 file(s) not applied")

	ns, err := api.ParseManifest([]byte(cliPod))
	if err != nil {
		t.Fatal(err)
	}
	ns.Generation = 1
	if _, err := st.Apply(ctx, store.SourceStatic, ns); err != nil {
		t.Fatal(err)
	}
	m, _ := st.Desired(ctx)
	uid := m.Pods[0].UID
	if _, err := st.AllocateClusterIP(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	started := time.Now().Add(-5 * time.Minute)
	st.PutPodStatus(ctx, api.PodStatus{Source: "static", Name: "web", UID: uid, Phase: api.PodRunning, PodIP: "10.42.0.9", StartTime: &started,
		ContainerStatuses: []api.ContainerStatus{{Name: "nginx", Ready: true, State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: started}}}}})
	st.RecordEvent(ctx, api.Event{Type: api.EventNormal, Reason: "Started", Message: "started container nginx", Object: "pod/web", Time: started})
	rt.obs = []runtimeapi.Observed{{ID: "c1", Ref: runtimeapi.PodRef{Source: "static", Name: "web", UID: uid}, Container: "nginx", State: runtimeapi.StateRunning}}
	logPath := podfiles.Dir(filepath.Join(dir, "pods", uid)).ContainerLog("nginx", 0)
	writeLog(t, logPath, "line one", "line two")

	t.Run("get", func(t *testing.T) {
		out, _ := cli(t, 0, "get", "pods")
		expect(t, out, "NAME   READY   STATUS    RESTARTS   AGE\nweb    1/1     Running   0          5m")
		out, _ = cli(t, 0, "get", "pods", "-o", "wide")
		expect(t, out, "10.42.0.9   pi-01   static")
		out, _ = cli(t, 0, "get", "pods", "-o", "json")
		var l localapi.PodList
		if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Items) != 1 {
			t.Errorf("json: %v\n%s", err, out)
		}
		out, _ = cli(t, 0, "get", "po", "-o", "yaml")
		expect(t, out, "items:\n", "name: web\n")
		out, _ = cli(t, 0, "get", "svc")
		expect(t, out, "web    ClusterIP   10.43.")
		out, _ = cli(t, 0, "get", "nodes")
		expect(t, out, "pi-01   Unknown")
		cli(t, 2, "get")
		_, errOut := cli(t, 1, "get", "deployments")
		expect(t, errOut, "unknown resource")
	})
	t.Run("describe", func(t *testing.T) {
		out, _ := cli(t, 0, "describe", "pod", "web")
		expect(t, out, "Name:", "web", "nginx:1.27", "Started   5m", "started container nginx")
		_, errOut := cli(t, 1, "describe", "pod", "nope")
		expect(t, errOut, `pod "nope"`, "not found")
	})
	t.Run("logs", func(t *testing.T) {
		out, _ := cli(t, 0, "logs", "web")
		if out != "line one\nline two\n" {
			t.Errorf("logs: %q", out)
		}
		out, _ = cli(t, 0, "logs", "web", "--tail", "1", "-c", "nginx")
		if out != "line two\n" {
			t.Errorf("logs --tail 1: %q", out)
		}
		_, errOut := cli(t, 1, "logs", "web", "--previous")
		expect(t, errOut, "previous terminated container")
	})
	t.Run("status", func(t *testing.T) {
		out, _ := cli(t, 0, "status")
		expect(t, out, "Link:", "not configured", "static", "generation 1", "Outbox:", "1 message(s)", "Pods:", "1, 0 ready (1 running)")
	})
	t.Run("exec", func(t *testing.T) {
		cliStdin = strings.NewReader("hello from stdin\n")
		defer func() { cliStdin = os.Stdin }()
		out, errOut := cli(t, 0, "exec", "web", "-i", "--", "cat")
		if out != "hello from stdin\n" || errOut != "on stderr\n" {
			t.Errorf("stdout %q stderr %q", out, errOut)
		}
		cli(t, 3, "exec", "web", "--", "sh", "-c", "exit=3")
		_, errOut = cli(t, 1, "exec", "web", "-c", "nope", "--", "true")
		expect(t, errOut, `container "nope" is not in pod "web"`)
	})
	t.Run("delete", func(t *testing.T) {
		out, _ := cli(t, 0, "delete", "pod", "web")
		expect(t, out, `pod "web" deleted`)
		if _, err := os.Stat(filepath.Join(manifests, "pod-web.yaml")); !os.IsNotExist(err) {
			t.Errorf("pod-web.yaml: %v", err)
		}
		cli(t, 1, "delete", "pod", "web")
	})
	t.Run("no agent", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if code := run([]string{"get", "pods", "--socket", filepath.Join(dir, "none.sock")}, &out, &errOut); code != 1 {
			t.Fatalf("exit %d", code)
		}
		expect(t, errOut.String(), "cannot reach the agent")
	})
}

func writeLog(t *testing.T, path string, lines ...string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	w, err := logs.NewWriter(path, logs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Attach(logs.Stdout, strings.NewReader(strings.Join(lines, "\n")+"\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
