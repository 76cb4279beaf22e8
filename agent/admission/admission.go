// Package admission decides whether a pod fits on the node before it is
// started, the way kubelet's admission does: the requests of the running
// pods plus the new one must fit the node's allocatable resources, and the
// pod count must stay within the pods capacity. It also computes a pod's
// effective requests, which eviction ranks by.
package admission

import (
	"fmt"

	"github.com/outpost-edge/outpost/api"
)

// Rejection reasons, exactly kubelet's ("OutOf" + resource name).
const (
	ReasonOutOfCPU              = "OutOfcpu"
	ReasonOutOfMemory           = "OutOfmemory"
	ReasonOutOfEphemeralStorage = "OutOfephemeral-storage"
	ReasonOutOfPods             = "OutOfpods"
)

// Requests is what a pod asks of the node.
type Requests struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
}

// PodRequests is the pod's effective request per resource, as kubelet
// computes it: init containers run one at a time before the others, so the
// pod needs max(largest init container request, sum of container requests).
func PodRequests(pod *api.Pod) Requests {
	var sum, initMax Requests
	for _, c := range pod.Spec.Containers {
		r := ContainerRequests(c)
		sum.MilliCPU += r.MilliCPU
		sum.Memory += r.Memory
		sum.EphemeralStorage += r.EphemeralStorage
	}
	for _, c := range pod.Spec.InitContainers {
		r := ContainerRequests(c)
		initMax.MilliCPU = max(initMax.MilliCPU, r.MilliCPU)
		initMax.Memory = max(initMax.Memory, r.Memory)
		initMax.EphemeralStorage = max(initMax.EphemeralStorage, r.EphemeralStorage)
	}
	return Requests{
		MilliCPU:         max(sum.MilliCPU, initMax.MilliCPU),
		Memory:           max(sum.Memory, initMax.Memory),
		EphemeralStorage: max(sum.EphemeralStorage, initMax.EphemeralStorage),
	}
}

// ContainerRequests is one container's requests. As in Kubernetes defaulting,
// a container with a limit and no request requests its limit.
func ContainerRequests(c api.Container) Requests {
	get := func(name string) (api.Quantity, bool) {
		if q, ok := c.Resources.Requests[name]; ok {
			return q, true
		}
		q, ok := c.Resources.Limits[name]
		return q, ok
	}
	var r Requests
	if q, ok := get(api.ResourceCPU); ok {
		r.MilliCPU = max(0, q.MilliValue())
	}
	if q, ok := get(api.ResourceMemory); ok {
		r.Memory = max(0, q.Value())
	}
	if q, ok := get(api.ResourceEphemeralStorage); ok {
		r.EphemeralStorage = max(0, q.Value())
	}
	return r
}

// Admit reports whether pod fits next to running on a node whose status is
// node; when it does not, reason and message say why in kubelet's words
// ("OutOfmemory", "Node didn't have enough resource: memory, requested: ...,
// used: ..., capacity: ..."). running holds the pods that hold resources
// (not terminated) and must not include pod. Checks run in kubelet's order
// (pods, cpu, memory, ephemeral-storage) and the first failure is returned.
//
// A pod that requests nothing of a resource always fits on it. A resource
// missing from the node's allocatable is not checked: the node could not
// measure it, and refusing every pod for that would be worse than
// overcommitting.
func Admit(node api.NodeStatus, running []*api.Pod, pod *api.Pod) (ok bool, reason, message string) {
	if q, known := node.Allocatable[api.ResourcePods]; known && int64(len(running))+1 > q.Value() {
		return false, ReasonOutOfPods, insufficient(api.ResourcePods, 1, int64(len(running)), q.Value())
	}
	want := PodRequests(pod)
	var used Requests
	for _, p := range running {
		r := PodRequests(p)
		used.MilliCPU += r.MilliCPU
		used.Memory += r.Memory
		used.EphemeralStorage += r.EphemeralStorage
	}
	checks := []struct {
		resource, reason string
		want, used       int64
		capacity         func(api.Quantity) int64
	}{
		{api.ResourceCPU, ReasonOutOfCPU, want.MilliCPU, used.MilliCPU, api.Quantity.MilliValue},
		{api.ResourceMemory, ReasonOutOfMemory, want.Memory, used.Memory, api.Quantity.Value},
		{api.ResourceEphemeralStorage, ReasonOutOfEphemeralStorage, want.EphemeralStorage, used.EphemeralStorage, api.Quantity.Value},
	}
	for _, c := range checks {
		q, known := node.Allocatable[c.resource]
		if c.want == 0 || !known {
			continue
		}
		if capacity := c.capacity(q); c.used+c.want > capacity {
			return false, c.reason, insufficient(c.resource, c.want, c.used, capacity)
		}
	}
	return true, "", ""
}

// insufficient is kubelet's InsufficientResourceError text; cpu is in
// millicores, memory and storage in bytes.
func insufficient(resource string, requested, used, capacity int64) string {
	return fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d",
		resource, requested, used, capacity)
}
