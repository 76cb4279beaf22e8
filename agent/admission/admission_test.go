package admission

import (
	"testing"

	"github.com/outpost-edge/outpost/api"
)

// res builds a resource list from name/quantity pairs.
func res(kv ...string) api.ResourceList {
	l := api.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = api.MustParseQuantity(kv[i+1])
	}
	return l
}

func container(requests, limits api.ResourceList) api.Container {
	return api.Container{Name: "c", Image: "app", Resources: api.Resources{Requests: requests, Limits: limits}}
}

func pod(cs ...api.Container) *api.Pod {
	return &api.Pod{Metadata: api.ObjectMeta{Name: "p"}, Spec: api.PodSpec{Containers: cs}}
}

func withInit(p *api.Pod, cs ...api.Container) *api.Pod {
	p.Spec.InitContainers = cs
	return p
}

func TestPodRequests(t *testing.T) {
	tests := []struct {
		name string
		pod  *api.Pod
		want Requests
	}{
		{"no requests", pod(container(nil, nil)), Requests{}},
		{"sum of containers", pod(container(res("cpu", "100m", "memory", "64Mi"), nil), container(res("cpu", "250m", "memory", "32Mi"), nil)),
			Requests{MilliCPU: 350, Memory: 96 << 20}},
		{"limit stands for a missing request", pod(container(nil, res("cpu", "1", "memory", "128Mi")), container(res("memory", "1Mi"), res("memory", "2Mi"))),
			Requests{MilliCPU: 1000, Memory: 129 << 20}},
		{"init container larger than the sum wins per resource",
			withInit(pod(container(res("cpu", "100m", "memory", "64Mi"), nil), container(res("cpu", "100m"), nil)),
				container(res("cpu", "150m", "memory", "512Mi"), nil), container(res("cpu", "300m"), nil)),
			Requests{MilliCPU: 300, Memory: 512 << 20}},
		{"init containers smaller than the sum", withInit(pod(container(res("memory", "256Mi"), nil)), container(res("memory", "100Mi"), nil)),
			Requests{Memory: 256 << 20}},
		{"ephemeral storage and fractional cpu rounds up", pod(container(res("cpu", "0.0001", "ephemeral-storage", "1Gi"), nil)),
			Requests{MilliCPU: 1, EphemeralStorage: 1 << 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PodRequests(tt.pod); got != tt.want {
				t.Errorf("PodRequests = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAdmit(t *testing.T) {
	node := api.NodeStatus{Allocatable: res("cpu", "1900m", "memory", "256Mi", "ephemeral-storage", "10Gi", "pods", "3")}
	mem := func(q string) *api.Pod { return pod(container(res("memory", q), nil)) }
	cpu := func(q string) *api.Pod { return pod(container(res("cpu", q), nil)) }
	bestEffort := pod(container(nil, nil))
	tests := []struct {
		name    string
		node    api.NodeStatus
		running []*api.Pod
		pod     *api.Pod
		reason  string
		message string
	}{
		{name: "empty node", pod: mem("64Mi")},
		{name: "fits exactly", running: []*api.Pod{mem("128Mi")}, pod: mem("128Mi")},
		{
			name: "out of memory", running: []*api.Pod{mem("64Mi"), mem("32Mi")}, pod: mem("512Mi"),
			reason:  "OutOfmemory",
			message: "Node didn't have enough resource: memory, requested: 536870912, used: 100663296, capacity: 268435456",
		},
		{
			name: "out of cpu in millicores", running: []*api.Pod{cpu("1")}, pod: cpu("1"),
			reason:  "OutOfcpu",
			message: "Node didn't have enough resource: cpu, requested: 1000, used: 1000, capacity: 1900",
		},
		{
			name: "cpu is checked before memory", running: []*api.Pod{pod(container(res("cpu", "1800m", "memory", "200Mi"), nil))},
			pod:    pod(container(res("cpu", "200m", "memory", "100Mi"), nil)),
			reason: "OutOfcpu", message: "Node didn't have enough resource: cpu, requested: 200, used: 1800, capacity: 1900",
		},
		{
			name: "out of ephemeral storage", pod: pod(container(res("ephemeral-storage", "11Gi"), nil)),
			reason:  "OutOfephemeral-storage",
			message: "Node didn't have enough resource: ephemeral-storage, requested: 11811160064, used: 0, capacity: 10737418240",
		},
		{
			name: "out of pods", running: []*api.Pod{bestEffort, bestEffort, bestEffort}, pod: bestEffort,
			reason: "OutOfpods", message: "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3",
		},
		{name: "a pod without requests fits a full node", running: []*api.Pod{mem("256Mi"), cpu("1900m")}, pod: bestEffort},
		{name: "running pods without requests take nothing", running: []*api.Pod{bestEffort, bestEffort}, pod: mem("256Mi")},
		{
			name: "init container peak counts for the new pod", running: []*api.Pod{mem("128Mi")},
			pod:     withInit(mem("64Mi"), container(res("memory", "192Mi"), nil)),
			reason:  "OutOfmemory",
			message: "Node didn't have enough resource: memory, requested: 201326592, used: 134217728, capacity: 268435456",
		},
		{
			name: "init container peak counts for running pods", running: []*api.Pod{withInit(mem("10Mi"), container(res("memory", "200Mi"), nil))},
			pod:     mem("64Mi"),
			reason:  "OutOfmemory",
			message: "Node didn't have enough resource: memory, requested: 67108864, used: 209715200, capacity: 268435456",
		},
		{
			name: "limit without request counts as request", pod: pod(container(nil, res("memory", "1Gi"))),
			reason:  "OutOfmemory",
			message: "Node didn't have enough resource: memory, requested: 1073741824, used: 0, capacity: 268435456",
		},
		{
			name: "resource the node could not measure is not checked",
			node: api.NodeStatus{Allocatable: res("cpu", "1", "pods", "110")}, pod: mem("64Gi"),
		},
		{
			name: "zero allocatable refuses any request",
			node: api.NodeStatus{Allocatable: res("cpu", "0", "memory", "0", "pods", "110")}, pod: cpu("1m"),
			reason: "OutOfcpu", message: "Node didn't have enough resource: cpu, requested: 1, used: 0, capacity: 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.node
			if n.Allocatable == nil {
				n = node
			}
			ok, reason, message := Admit(n, tt.running, tt.pod)
			if ok != (tt.reason == "") || reason != tt.reason || message != tt.message {
				t.Errorf("Admit = %v, %q, %q\n want %v, %q, %q", ok, reason, message, tt.reason == "", tt.reason, tt.message)
			}
		})
	}
}

// TestAdmitEphemeralStorageFromManifest: an ephemeral-storage request
// written in a manifest is accepted and admission goes by it, as
// docs/agent.md says.
func TestAdmitEphemeralStorageFromManifest(t *testing.T) {
	ns, err := api.ParseManifest([]byte(`apiVersion: v1
kind: Pod
metadata: {name: cache}
spec:
  initContainers:
  - {name: fetch, image: app, resources: {requests: {ephemeral-storage: 6Gi}}}
  containers:
  - {name: a, image: app, resources: {requests: {cpu: 100m, ephemeral-storage: 3Gi}}}
  - {name: b, image: app, resources: {requests: {ephemeral-storage: 2Gi}}}
`))
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	p := &ns.Pods[0]
	if got := PodRequests(p); got.EphemeralStorage != 6<<30 {
		t.Fatalf("PodRequests = %+v, want the init container's 6Gi of ephemeral storage", got)
	}
	node := api.NodeStatus{Allocatable: res("cpu", "2", "memory", "1Gi", "ephemeral-storage", "10Gi", "pods", "110")}
	running := []*api.Pod{pod(container(res("ephemeral-storage", "5Gi"), nil))}
	ok, reason, message := Admit(node, running, p)
	if ok || reason != ReasonOutOfEphemeralStorage ||
		message != "Node didn't have enough resource: ephemeral-storage, requested: 6442450944, used: 5368709120, capacity: 10737418240" {
		t.Fatalf("Admit = %v, %q, %q", ok, reason, message)
	}
	if ok, reason, _ := Admit(node, nil, p); !ok {
		t.Fatalf("on an empty node: %s", reason)
	}
}
