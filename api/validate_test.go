package api

import (
	"fmt"
	"strings"
	"testing"
)

// pod builds a minimal valid one-container pod document and lets a test
// replace a fragment of it.
func podDoc(extraSpec, extraContainer string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    image: busybox:1
%s
%s`, indent(extraContainer, "    "), indent(extraSpec, "  "))
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		spec, ctr string
		want      []string
	}{
		{"valid", "", "", nil},
		{"bad restart policy", "restartPolicy: Sometimes", "", []string{`pods[p].spec.restartPolicy: must be Always, OnFailure or Never, not "Sometimes"`}},
		{"port out of range", "", "ports: [{containerPort: 70000}]", []string{"pods[p].spec.containers[0].ports[0].containerPort: must be between 1 and 65535, not 70000"}},
		{"duplicate port names", "", "ports: [{name: web, containerPort: 80}, {name: web, containerPort: 81}]", []string{`ports[1].name: duplicate port name "web"`}},
		{"sctp", "", "ports: [{containerPort: 80, protocol: SCTP}]", []string{`ports[0].protocol: must be TCP or UDP, not "SCTP"`}},
		{"duplicate host port", "", "ports: [{containerPort: 80, hostPort: 8080}, {containerPort: 81, hostPort: 8080}]", []string{"ports[1].hostPort: TCP/8080 is already used by"}},
		{"mount of undeclared volume", "", "volumeMounts: [{name: data, mountPath: /data}]", []string{`volumeMounts[0].name: no volume named "data" in spec.volumes`}},
		{"relative mount path", "volumes: [{name: d, emptyDir: {}}]", "volumeMounts: [{name: d, mountPath: data}]", []string{`volumeMounts[0].mountPath: must be an absolute path`}},
		{"hostPath relative", "volumes: [{name: d, hostPath: {path: etc}}]", "", []string{`spec.volumes[0].hostPath.path: must be an absolute path, not "etc"`}},
		{"hostPath unclean", "volumes: [{name: d, hostPath: {path: /srv/../etc}}]", "", []string{`hostPath.path: must be a clean path ("/etc", not "/srv/../etc")`}},
		{"volume with two sources", "volumes: [{name: d, hostPath: {path: /srv}, emptyDir: {}}]", "", []string{"spec.volumes[0]: must have exactly one of emptyDir, hostPath"}},
		{"volume with none", "volumes: [{name: d}]", "", []string{"spec.volumes[0]: must have exactly one of emptyDir, hostPath"}},
		{"duplicate volumes", "volumes: [{name: d, emptyDir: {}}, {name: d, emptyDir: {}}]", "", []string{`volumes[1].name: duplicate volume name "d"`}},
		{"request over limit", "", "resources: {limits: {memory: 32Mi}, requests: {memory: 64Mi}}", []string{"resources.requests.memory: 64Mi is more than the limit 32Mi"}},
		{"unsupported resource", "", "resources: {limits: {nvidia.com/gpu: 1}}", []string{"resources.limits.nvidia.com/gpu: not supported: only cpu and memory"}},
		{"negative quantity", "", "resources: {requests: {cpu: -1}}", []string{"resources.requests.cpu: must not be negative"}},
		{"unsupported requested resource", "", "resources: {requests: {nvidia.com/gpu: 1}}", []string{"resources.requests.nvidia.com/gpu: not supported: only cpu, memory and ephemeral-storage"}},
		{"ephemeral-storage request", "", "resources: {requests: {ephemeral-storage: 2Gi, cpu: 100m, memory: 64Mi}, limits: {memory: 128Mi}}", nil},
		{"zero ephemeral-storage request", "", "resources: {requests: {ephemeral-storage: 0}}", nil},
		{"negative ephemeral-storage request", "", "resources: {requests: {ephemeral-storage: -1Gi}}", []string{"resources.requests.ephemeral-storage: must not be negative"}},
		{"malformed ephemeral-storage request", "", "resources: {requests: {ephemeral-storage: 2GB}}", []string{"requests.ephemeral-storage"}},
		{"ephemeral-storage request of an init container", "initContainers: [{name: i, image: 'busybox:1', resources: {requests: {ephemeral-storage: 1Gi}}}]", "", nil},
		{"ephemeral-storage limit", "", "resources: {limits: {ephemeral-storage: 2Gi}}",
			[]string{"resources.limits.ephemeral-storage: not supported: an ephemeral-storage limit is not enforced by this node; use requests.ephemeral-storage"}},
		{"ephemeral-storage limit with a request", "", "resources: {requests: {ephemeral-storage: 1Gi}, limits: {ephemeral-storage: 2Gi}}",
			[]string{"resources.limits.ephemeral-storage: not supported"}},
		{"probe without handler", "", "livenessProbe: {periodSeconds: 5}", []string{"livenessProbe: must have exactly one of exec, httpGet, tcpSocket"}},
		{"probe on unknown named port", "", "readinessProbe: {tcpSocket: {port: web}}", []string{`readinessProbe.tcpSocket.port: no container port named "web"`}},
		{"liveness success threshold", "", "livenessProbe: {exec: {command: [\"true\"]}, successThreshold: 2}", []string{"livenessProbe.successThreshold: must be 1"}},
		{"bad capability", "", "securityContext: {capabilities: {add: [NET_ADMIN, CAP_FLY]}}", []string{`capabilities.add[1]: "CAP_FLY" is not a Linux capability`}},
		{"bad env name", "", "env: [{name: '1X', value: y}]", []string{"env[0].name: must consist of"}},
		{"bad container name", "", "", nil},
		{"negative grace", "terminationGracePeriodSeconds: -1", "", []string{"terminationGracePeriodSeconds: must not be negative"}},
		{"hostNetwork port mismatch", "hostNetwork: true", "ports: [{containerPort: 80, hostPort: 8080}]", []string{"hostPort: must equal containerPort with hostNetwork"}},
		{"init container with probe", "initContainers: [{name: i, image: 'busybox:1', readinessProbe: {exec: {command: [x]}}}]", "", []string{"initContainers[0]: init containers run to completion and cannot have probes"}},
		{"duplicate across init", "initContainers: [{name: c, image: 'busybox:1'}]", "", []string{`containers[0].name: duplicate container name "c"`}},
		{"many problems at once", "restartPolicy: x\nvolumes: [{name: d}]", "ports: [{containerPort: 0}]\nimagePullPolicy: Sometimes",
			[]string{"restartPolicy", "volumes[0]", "containerPort", "imagePullPolicy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest([]byte(podDoc(tt.spec, tt.ctr)))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestValidateNames(t *testing.T) {
	tests := []struct {
		doc  string
		want string
	}{
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: Web_1}\nspec: {containers: [{name: c, image: 'b:1'}]}", "pods[Web_1].metadata.name: must be a DNS-1123 label"},
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: " + strings.Repeat("a", 64) + "}\nspec: {containers: [{name: c, image: 'b:1'}]}", "must be at most 63 characters"},
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: ok}\nspec: {containers: [{name: C, image: 'b:1'}]}", "containers[0].name: must be a DNS-1123 label"},
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: ok}\nspec: {containers: [{name: c}]}", "containers[0].image: required"},
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: ok, labels: {'bad key!': v}}\nspec: {containers: [{name: c, image: 'b:1'}]}", "metadata.labels.bad key!: name part"},
		{"apiVersion: v1\nkind: Service\nmetadata: {name: 1svc}\nspec: {ports: [{port: 80}]}", "services[1svc].metadata.name: must be a DNS-1035 label"},
		{"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: 'b:1'}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: 'b:1'}]}", `pods[a].metadata.name: duplicate pod name "a"`},
	}
	for _, tt := range tests {
		_, err := ParseManifest([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\n got %v\nwant %q", tt.doc, err, tt.want)
		}
	}
}

func TestValidateService(t *testing.T) {
	svc := func(spec string) string {
		return "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n" + indent(spec, "  ") + "\n"
	}
	tests := []struct {
		spec string
		want string
	}{
		{"selector: {app: a}\nports: [{port: 80, targetPort: web}]", ""},
		{"type: NodePort\nports: [{port: 80, nodePort: 30080}]", ""},
		{"ports: []", "services[s].spec.ports: required"},
		{"type: LoadBalancer\nports: [{port: 80}]", `spec.type: must be ClusterIP or NodePort, not "LoadBalancer"`},
		{"ports: [{port: 80, nodePort: 30080}]", "ports[0].nodePort: may only be set when type is NodePort"},
		{"type: NodePort\nports: [{port: 80, nodePort: 80}]", "ports[0].nodePort: must be between 30000 and 32767"},
		{"ports: [{port: 80}, {port: 81}]", "ports[0].name: required when a service has more than one port"},
		{"ports: [{name: a, port: 80}, {name: b, port: 80}]", "ports[1].port: TCP/80 is listed twice"},
		{"ports: [{port: 80, targetPort: Web}]", "ports[0].targetPort: must be lower-case"},
		{"clusterIP: None\nports: [{port: 80}]", "spec.clusterIP: headless services are not supported"},
		{"clusterIP: 10.43.300.1\nports: [{port: 80}]", `spec.clusterIP: "10.43.300.1" is not an IP address`},
		{"sessionAffinity: ClientIP\nports: [{port: 80}]", "spec.sessionAffinity: not supported"},
	}
	for _, tt := range tests {
		_, err := ParseManifest([]byte(svc(tt.spec)))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: unexpected %v", tt.spec, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s:\n got %v\nwant %q", tt.spec, err, tt.want)
		}
	}
}

func TestValidateNodeWidePorts(t *testing.T) {
	doc := `apiVersion: v1
kind: Pod
metadata: {name: a}
spec: {containers: [{name: c, image: 'b:1', ports: [{containerPort: 80, hostPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b}
spec: {containers: [{name: c, image: 'b:1', ports: [{containerPort: 80, hostPort: 8080}, {containerPort: 80, hostPort: 8080, protocol: UDP}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: s1}
spec: {type: NodePort, ports: [{port: 80, nodePort: 30080}]}
---
apiVersion: v1
kind: Service
metadata: {name: s2}
spec: {type: NodePort, ports: [{port: 80, nodePort: 30080}]}
`
	_, err := ParseManifest([]byte(doc))
	for _, want := range []string{
		"pods[b].spec.containers[0].ports[0].hostPort: TCP/8080 is already used by pods[a].spec.containers[0].ports[0]",
		"services[s2].spec.ports[0].nodePort: TCP/30080 is already used by services[s1].spec.ports[0]",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "UDP/8080") {
		t.Errorf("UDP and TCP host ports clash: %v", err)
	}
}

func TestValidateCaps(t *testing.T) {
	var b strings.Builder
	for i := 0; i <= MaxPods; i++ {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p%d}\nspec: {containers: [{name: c, image: 'b:1'}]}\n", i)
	}
	_, err := ParseManifest([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "pods: has 111 pods, at most 110 are allowed") {
		t.Fatalf("err = %v", err)
	}
}

func TestSpecHash(t *testing.T) {
	parse := func(doc string) *Pod {
		t.Helper()
		ns, err := ParseManifest([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return &ns.Pods[0]
	}
	base := parse(podDoc("", ""))
	explicit := parse(podDoc("restartPolicy: Always\nterminationGracePeriodSeconds: 30", "imagePullPolicy: IfNotPresent"))
	relabelled := parse(strings.Replace(podDoc("", ""), "{name: p}", "{name: p, labels: {a: b}}", 1))
	changed := parse(podDoc("", "args: [x]"))
	if SpecHash(base) != SpecHash(explicit) {
		t.Error("explicit defaults changed the hash")
	}
	if SpecHash(base) != SpecHash(relabelled) {
		t.Error("labels changed the hash")
	}
	if SpecHash(base) == SpecHash(changed) {
		t.Error("a spec change kept the hash")
	}
	if len(SpecHash(base)) != 16 {
		t.Errorf("hash %q is not 16 hex digits", SpecHash(base))
	}
}
