package api

import (
	"errors"
	"strings"
	"testing"
)

const webPod = `
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: httpd
    image: example.com/busybox:1.36
    command: [httpd, -f, -p, "8080"]
    ports:
    - {name: http, containerPort: 8080, hostPort: 8080}
    resources:
      limits: {cpu: 500m, memory: 64Mi}
      requests: {cpu: 0.1, memory: 32Mi}
    readinessProbe:
      httpGet: {port: http}
    volumeMounts:
    - {name: data, mountPath: /data}
  volumes:
  - name: data
    emptyDir: {}
`

func TestParseManifestForms(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		pods     []string
		services []string
		gen      int64
	}{
		{"single pod", webPod, []string{"web"}, nil, 0},
		{"pod and service", webPod + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: http}]\n",
			[]string{"web"}, []string{"web"}, 0},
		{"node state json", `{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":7,"pods":[{"metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"busybox:1"}]}}]}`,
			[]string{"a"}, nil, 7},
		{"empty documents skipped", "---\n# nothing\n---\n" + webPod + "---\n", []string{"web"}, nil, 0},
		{"kubectl dry-run output", `apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: null
  labels: {run: x}
  name: x
spec:
  containers:
  - image: busybox:1
    name: x
    resources: {}
  dnsPolicy: ClusterFirst
  restartPolicy: Always
status: {}
`, []string{"x"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, err := ParseManifest([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseManifest: %v", err)
			}
			if got := podNames(ns); strings.Join(got, ",") != strings.Join(tt.pods, ",") {
				t.Errorf("pods = %v, want %v", got, tt.pods)
			}
			var svcs []string
			for _, s := range ns.Services {
				svcs = append(svcs, s.Metadata.Name)
			}
			if strings.Join(svcs, ",") != strings.Join(tt.services, ",") {
				t.Errorf("services = %v, want %v", svcs, tt.services)
			}
			if ns.Generation != tt.gen {
				t.Errorf("generation = %d, want %d", ns.Generation, tt.gen)
			}
		})
	}
}

func podNames(ns *NodeState) []string {
	var names []string
	for _, p := range ns.Pods {
		names = append(names, p.Metadata.Name)
	}
	return names
}

func TestParseManifestValues(t *testing.T) {
	ns, err := ParseManifest([]byte(webPod))
	if err != nil {
		t.Fatal(err)
	}
	c := ns.Pods[0].Spec.Containers[0]
	if c.Resources.Limits[ResourceCPU].MilliValue() != 500 || c.Resources.Requests[ResourceCPU].MilliValue() != 100 {
		t.Errorf("cpu = %v / %v", c.Resources.Limits[ResourceCPU], c.Resources.Requests[ResourceCPU])
	}
	if c.Resources.Limits[ResourceMemory].Value() != 64<<20 {
		t.Errorf("memory limit = %d", c.Resources.Limits[ResourceMemory].Value())
	}
	if c.ReadinessProbe.HTTPGet.Port != FromString("http") || c.ReadinessProbe.PeriodSeconds != 10 {
		t.Errorf("probe = %+v", c.ReadinessProbe)
	}
	if c.ImagePullPolicy != PullIfNotPresent || ns.Pods[0].Spec.RestartPolicy != RestartAlways {
		t.Errorf("defaults not applied: %q %q", c.ImagePullPolicy, ns.Pods[0].Spec.RestartPolicy)
	}
	if c.Command[3] != "8080" {
		t.Errorf("command = %q", c.Command)
	}
}

// TestDecodeErrors checks that each kind of bad input names its path.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"unsupported probe handler", `{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":1,"pods":[{"metadata":{"name":"web"},"spec":{"containers":[{"name":"c","image":"i:1","livenessProbe":{"grpc":{"port":1}}}]}}]}`,
			[]string{"pods[web].spec.containers[0].livenessProbe.grpc: not supported"}},
		{"unknown field", strings.Replace(webPod, "image:", "imagee: x\n    image:", 1),
			[]string{"line 10: pods[web].spec.containers[0].imagee: unknown field"}},
		{"wrong scalar type", strings.Replace(webPod, `"8080"]`, "8080]", 1),
			[]string{"pods[web].spec.containers[0].command[3]: must be a string, not a number (8080)"}},
		{"bad quantity", strings.Replace(webPod, "memory: 64Mi", "memory: 64MB", 1),
			[]string{`pods[web].spec.containers[0].resources.limits.memory: invalid quantity: "64MB" has an unknown suffix "MB"`}},
		{"out of range int", strings.Replace(webPod, "containerPort: 8080", "containerPort: 99999999999", 1),
			[]string{"pods[web].spec.containers[0].ports[0].containerPort: integer 99999999999 is out of range"}},
		{"list expected", strings.Replace(webPod, "command: [httpd, -f, -p, \"8080\"]", "command: httpd", 1),
			[]string{"pods[web].spec.containers[0].command: must be a list, not a string"}},
		{"two errors at once", strings.Replace(strings.Replace(webPod, "image:", "tty: true\n    image:", 1), "emptyDir: {}", "configMap: {name: x}", 1),
			[]string{"containers[0].tty: not supported", "volumes[0].configMap: not supported (use hostPath or bake the file into the image)"}},
		{"missing kind", "apiVersion: v1\nmetadata: {name: x}\n", []string{"kind: required"}},
		{"unsupported kind", "apiVersion: apps/v1\nkind: Deployment\n", []string{`kind: "Deployment" is not supported`}},
		{"node state not alone", `{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":1}` + "\n---\n" + webPod,
			[]string{"documents[0].kind: a NodeState must be the only document"}},
		{"status not empty", webPod + "status: {phase: Running}\n", []string{"pods[web].status: not supported (status is reported by the node)"}},
		{"yaml syntax", "kind: Pod\nmetadata: [\n", []string{"cannot parse document"}},
		{"duplicate field", "kind: Pod\nkind: Pod\n", []string{"pods[0].kind: duplicate field"}},
		{"duplicate label", strings.Replace(webPod, "{app: web}", "{app: web, app: x}", 1), []string{"pods[web].metadata.labels.app: duplicate key"}},
		{"empty", "   \n", []string{"document is empty"}},
		{"not an object", "[1, 2]", []string{"kind: required"}},
		{"too large", strings.Repeat(" ", MaxDocumentBytes+1), []string{"more than the 4194304 allowed"}},
		{"wrong api version", strings.Replace(`{"apiVersion":"v1","kind":"NodeState","generation":1}`, "", "", 1), []string{"apiVersion: must be outpost.dev/v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest([]byte(tt.in))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseNodeStateNeedsGeneration(t *testing.T) {
	for _, in := range []string{
		`{"apiVersion":"outpost.dev/v1","kind":"NodeState"}`,
		`{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":0}`,
		`{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":-3}`,
	} {
		if _, err := ParseNodeState([]byte(in)); err == nil || !strings.Contains(err.Error(), "generation: must be greater than 0") {
			t.Errorf("ParseNodeState(%s) = %v", in, err)
		}
	}
	if _, err := ParseNodeState([]byte(webPod)); err == nil || !strings.Contains(err.Error(), "kind: must be NodeState") {
		t.Errorf("a Pod document accepted as NodeState: %v", err)
	}
	ns, err := ParseNodeState([]byte(`{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":3}`))
	if err != nil || ns.Generation != 3 {
		t.Fatalf("ParseNodeState = %v, %v", ns, err)
	}
}

// A generation at the end of int64 wedged a node: nothing could follow it.
func TestGenerationRange(t *testing.T) {
	tests := []struct {
		doc  string
		want string // "" accepted, else part of the error
	}{
		{`"generation":9007199254740991`, ""},
		{`"generation":9007199254740992`, "generation: must be at most 9007199254740991"},
		{`"generation":9223372036854775807`, "generation: must be at most 9007199254740991"},
		{`"generation":1,"resetFrom":9223372036854775807`, ""},
		{`"generation":1,"resetFrom":-1`, "resetFrom: must not be negative"},
	}
	for _, tt := range tests {
		_, err := ParseNodeState([]byte(`{"apiVersion":"outpost.dev/v1","kind":"NodeState",` + tt.doc + `}`))
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("ParseNodeState(%s) = %v, want %q", tt.doc, err, tt.want)
		}
	}
}

func TestAliasesAndAnchors(t *testing.T) {
	in := `apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  containers:
  - &c {name: one, image: "busybox:1"}
  - <<: *c
    name: two
`
	// Merge keys are a YAML feature Kubernetes accepts; the strict decoder
	// sees "<<" as a field and rejects it with its path rather than guessing.
	_, err := ParseManifest([]byte(in))
	if err == nil || !strings.Contains(err.Error(), "containers[1].<<: unknown field") {
		t.Fatalf("err = %v", err)
	}
	in = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - &c {name: one, image: \"busybox:1\"}\n  - *c\n"
	_, err = ParseManifest([]byte(in))
	if err == nil || !strings.Contains(err.Error(), `duplicate container name "one"`) {
		t.Fatalf("alias: err = %v", err)
	}
}
