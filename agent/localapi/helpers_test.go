package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
	"github.com/outpost-edge/outpost/store"
)

// fakeRuntime stands in for the runtime's List and Exec, for tests about
// the API's own logic.
type fakeRuntime struct {
	mu   sync.Mutex
	obs  []runtimeapi.Observed
	exec func(ctx context.Context, id string, req runtimeapi.ExecRequest) (int, error)
}

func (f *fakeRuntime) List(context.Context) ([]runtimeapi.Observed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]runtimeapi.Observed(nil), f.obs...), nil
}

func (f *fakeRuntime) Exec(ctx context.Context, id string, req runtimeapi.ExecRequest) (int, error) {
	if f.exec == nil {
		return -1, errors.New("no exec")
	}
	return f.exec(ctx, id, req)
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// env is a server on a real socket over a real store.
type env struct {
	store   *store.Store
	rt      *fakeRuntime
	dataDir string
	socket  string
	client  *http.Client
	server  *Server
	stop    func()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{store: openStore(t), rt: &fakeRuntime{}, dataDir: t.TempDir()}
	b := &StoreBackend{Store: e.store, Runtime: e.rt, Static: NewManifestDir(filepath.Join(e.dataDir, "manifests"), testLogger(t))}
	e.start(t, b)
	return e
}

// start runs a server over b until the test ends.
func (e *env) start(t *testing.T, b Backend) {
	t.Helper()
	if e.dataDir == "" {
		e.dataDir = t.TempDir()
	}
	e.server = New(b, Options{DataDir: e.dataDir, NodeName: "pi-01", Logger: testLogger(t)})
	e.socket = e.server.Socket()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.server.Run(ctx) }()
	select {
	case <-e.server.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(e.stop)
	e.client = unixClient(e.socket)
}

func unixClient(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

// do sends a request and returns the status and body.
func (e *env) do(t *testing.T, method, path string, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://outpost"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp.StatusCode, data
}

func decode[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, data)
	}
	return v
}

// seed applies a source's document and returns its pods' uids by name.
func seed(t *testing.T, st *store.Store, src store.Source, gen int64, manifest string) map[string]string {
	t.Helper()
	ns, err := api.ParseManifest([]byte(manifest))
	if err != nil {
		t.Fatalf("ParseManifest: %v", err)
	}
	ns.Generation = gen
	if _, err := st.Apply(context.Background(), src, ns); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	m, err := st.Desired(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]string{}
	for _, p := range m.Pods {
		uids[p.Pod.Metadata.Name] = p.UID
	}
	return uids
}

const webPod = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: nginx
    image: nginx:1.27
    ports: [{containerPort: 80}]
`

const webService = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80}]
`
