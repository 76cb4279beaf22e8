package localapi

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
)

// dirState reads every file of dir: name -> content.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(data)
	}
	return out
}

func names(m map[string]string) string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	slices.Sort(n)
	return strings.Join(n, " ")
}

func actions(sum ApplySummary) string {
	var out []string
	for _, c := range sum.Changes {
		out = append(out, c.Kind+"/"+c.Name+" "+c.Action)
	}
	return strings.Join(out, ", ")
}

// parseDir parses every manifest of dir as the watcher would and returns
// the pod and service names.
func parseDir(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	for name, data := range dirState(t, dir) {
		ns, err := api.ParseManifest([]byte(data))
		if err != nil {
			t.Fatalf("%s no longer parses: %v\n%s", name, err, data)
		}
		for _, p := range ns.Pods {
			out = append(out, "pod/"+p.Metadata.Name)
		}
		for _, s := range ns.Services {
			out = append(out, "service/"+s.Metadata.Name)
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func TestManifestDirApply(t *testing.T) {
	const nodeState = `apiVersion: outpost.dev/v1
kind: NodeState
generation: 3
pods:
- metadata: {name: a}
  spec:
    containers: [{name: c, image: busybox:1.36}]
services:
- metadata: {name: s}
  spec: {ports: [{port: 53, protocol: UDP}]}
`
	const jsonPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"},"spec":{"containers":[{"name":"c","image":"busybox:1.36","command":["sleep","3600"]}]}}`
	tests := []struct {
		name     string
		existing map[string]string
		apply    []string
		actions  string
		files    string
		objects  string
		contains [][2]string // file, text
	}{
		{
			name:     "pod and service get a file each, comments kept",
			apply:    []string{"# the web server\n" + webPod + "---\n" + webService},
			actions:  "pod/web created, service/web created",
			files:    "pod-web.yaml service-web.yaml",
			objects:  "pod/web service/web",
			contains: [][2]string{{"pod-web.yaml", "# the web server"}, {"service-web.yaml", "kind: Service"}},
		},
		{
			name:     "again is unchanged, changed is configured",
			apply:    []string{webPod, webPod, strings.Replace(webPod, "1.27", "1.28", 1)},
			actions:  "pod/web configured",
			files:    "pod-web.yaml",
			objects:  "pod/web",
			contains: [][2]string{{"pod-web.yaml", "nginx:1.28"}},
		},
		{
			name:     "NodeState is split with kinds added",
			apply:    []string{nodeState},
			actions:  "pod/a created, service/s created",
			files:    "pod-a.yaml service-s.yaml",
			objects:  "pod/a service/s",
			contains: [][2]string{{"pod-a.yaml", "apiVersion: v1\nkind: Pod\n"}, {"service-s.yaml", "kind: Service"}},
		},
		{
			name:     "JSON becomes block YAML",
			apply:    []string{jsonPod},
			actions:  "pod/j created",
			files:    "pod-j.yaml",
			objects:  "pod/j",
			contains: [][2]string{{"pod-j.yaml", "metadata:\n  name: j\n"}, {"pod-j.yaml", "- \"3600\""}},
		},
		{
			name:     "a pod in a hand-written file moves to its own",
			existing: map[string]string{"site.yaml": "# site\n" + webPod + "---\n" + webService},
			apply:    []string{strings.Replace(webPod, "1.27", "1.28", 1)},
			actions:  "pod/web configured",
			files:    "pod-web.yaml site.yaml",
			objects:  "pod/web service/web",
			contains: [][2]string{{"pod-web.yaml", "1.28"}, {"site.yaml", "kind: Service"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tt.existing {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			d := NewManifestDir(dir, zerolog.Nop())
			var sum ApplySummary
			for i, m := range tt.apply {
				var err error
				if sum, err = d.Apply(context.Background(), []byte(m)); err != nil {
					t.Fatalf("Apply #%d: %v", i, err)
				}
				if i == 1 && actions(sum) != "pod/web unchanged" {
					t.Errorf("second apply: %s", actions(sum))
				}
			}
			if got := actions(sum); got != tt.actions {
				t.Errorf("actions %q, want %q", got, tt.actions)
			}
			state := dirState(t, dir)
			if got := names(state); got != tt.files {
				t.Errorf("files %q, want %q", got, tt.files)
			}
			if got := parseDir(t, dir); got != tt.objects {
				t.Errorf("objects %q, want %q", got, tt.objects)
			}
			for _, c := range tt.contains {
				if f, want := c[0], c[1]; !strings.Contains(state[f], want) {
					t.Errorf("%s lacks %q:\n%s", f, want, state[f])
				}
			}
		})
	}
}

func TestManifestDirApplyInvalid(t *testing.T) {
	dir := t.TempDir()
	d := NewManifestDir(dir, zerolog.Nop())
	_, err := d.Apply(context.Background(), []byte(strings.Replace(webPod, "image: nginx:1.27", "imagee: nginx", 1)))
	if !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("Apply: %v, want api.ErrInvalid", err)
	}
	if p := problems(err); len(p) == 0 || !strings.Contains(p[0].Path, "imagee") {
		t.Errorf("problems %+v", p)
	}
	if s := dirState(t, dir); len(s) != 0 {
		t.Errorf("files written: %v", names(s))
	}
}

func TestManifestDirDeletePod(t *testing.T) {
	const nodeState = `apiVersion: outpost.dev/v1
kind: NodeState
generation: 1
pods:
- metadata: {name: web}
  spec: {containers: [{name: c, image: busybox:1.36}]}
- metadata: {name: keep}
  spec: {containers: [{name: c, image: busybox:1.36}]}
`
	const jsonState = `{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":1,"pods":[` +
		`{"metadata":{"name":"web"},"spec":{"containers":[{"name":"c","image":"busybox:1.36"}]}},` +
		`{"metadata":{"name":"keep"},"spec":{"containers":[{"name":"c","image":"busybox:1.36"}]}}]}`
	tests := []struct {
		name     string
		existing map[string]string
		files    string
		objects  string
	}{
		{"own file removed", map[string]string{"pod-web.yaml": webPod, "other.yaml": webService}, "other.yaml", "service/web"},
		{"multi-document file keeps the rest", map[string]string{"site.yaml": "# head\n" + webPod + "---\n# svc\n" + webService}, "site.yaml", "service/web"},
		{"NodeState keeps other pods", map[string]string{"state.yaml": nodeState}, "state.yaml", "pod/keep"},
		{"JSON stays JSON", map[string]string{"state.json": jsonState}, "state.json", "pod/keep"},
		{"every file that holds it", map[string]string{"a.yaml": webPod, "b.yaml": webPod + "---\n" + webService}, "b.yaml", "service/web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tt.existing {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			d := NewManifestDir(dir, zerolog.Nop())
			sum, err := d.DeletePod(context.Background(), "web")
			if err != nil {
				t.Fatalf("DeletePod: %v", err)
			}
			if len(sum.Changes) == 0 || sum.Changes[0].Action != ActionDeleted {
				t.Errorf("summary %+v", sum)
			}
			state := dirState(t, dir)
			if got := names(state); got != tt.files {
				t.Errorf("files %q, want %q", got, tt.files)
			}
			if got := parseDir(t, dir); got != tt.objects {
				t.Errorf("objects %q, want %q", got, tt.objects)
			}
			if f, ok := state["state.json"]; ok && !strings.HasPrefix(f, "{") {
				t.Errorf("state.json is no longer JSON:\n%s", f)
			}
			if f, ok := state["site.yaml"]; ok && !strings.Contains(f, "# svc") {
				t.Errorf("comment lost:\n%s", f)
			}
			if _, err := d.DeletePod(context.Background(), "web"); !errors.Is(err, ErrNotFound) {
				t.Errorf("second DeletePod: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestApplyDeleteOverHTTP goes through the socket, the server and a real
// manifest directory.
func TestApplyDeleteOverHTTP(t *testing.T) {
	e := newEnv(t)
	seed(t, e.store, store.SourceNode, 1, strings.ReplaceAll(webPod, "name: web", "name: remote"))
	manifests := filepath.Join(e.dataDir, "manifests")

	code, body := e.do(t, "POST", "/v1/apply", webPod+"---\n"+webService)
	if code != http.StatusOK {
		t.Fatalf("apply: %d %s", code, body)
	}
	if got := actions(decode[ApplySummary](t, body)); got != "pod/web created, service/web created" {
		t.Errorf("apply: %s", got)
	}
	if got := names(dirState(t, manifests)); got != "pod-web.yaml service-web.yaml" {
		t.Errorf("files %s", got)
	}

	code, body = e.do(t, "POST", "/v1/apply", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    livenessProbe: {grpc: {port: 1}}\n")
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("invalid apply: %d %s", code, body)
	}
	eb := decode[ErrorBody](t, body)
	if len(eb.Problems) == 0 || !strings.Contains(eb.Problems[0].Path, "livenessProbe") || eb.Problems[0].Line == 0 {
		t.Errorf("problems %+v", eb.Problems)
	}

	code, body = e.do(t, "DELETE", "/v1/pods/web", "")
	if code != http.StatusOK || actions(decode[ApplySummary](t, body)) != "pod/web deleted" {
		t.Fatalf("delete: %d %s", code, body)
	}
	if got := names(dirState(t, manifests)); got != "service-web.yaml" {
		t.Errorf("files %s", got)
	}
	code, body = e.do(t, "DELETE", "/v1/pods/remote", "")
	if code != http.StatusConflict || !strings.Contains(decode[ErrorBody](t, body).Error, "remote:node") {
		t.Errorf("delete remote pod: %d %s", code, body)
	}
}

func TestStaticNotConfigured(t *testing.T) {
	e := &env{}
	e.start(t, &StoreBackend{Store: openStore(t)})
	code, body := e.do(t, "POST", "/v1/apply", webPod)
	if code != http.StatusServiceUnavailable || decode[ErrorBody](t, body).Reason != ReasonUnavailable {
		t.Fatalf("apply: %d %s", code, body)
	}
}
