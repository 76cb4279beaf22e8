package agent

import (
	"context"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/agent/admission"
	"github.com/outpost-edge/outpost/api"
)

func bigPod(name string) string {
	return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + "}\nspec:\n  containers: [{name: c, image: 'img:1', resources: {requests: {memory: 768Mi}}}]\n"
}

// TestTerminatingPodDoesNotBlockAdmission: a pod that is only terminating
// (removed from the desired state, its containers stopping) holds no
// resources for admission, as in kubelet (which admits against the pods
// still desired): the pod replacing it is admitted at once, not refused
// with a FailedAdmission per document.
func TestTerminatingPodDoesNotBlockAdmission(t *testing.T) {
	node := api.NodeStatus{Allocatable: map[string]api.Quantity{api.ResourceMemory: api.MustParseQuantity("1Gi")}}
	h := newHarnessWith(t, func(o *Options) {
		o.Admit = func(pod *api.Pod, admitted []*api.Pod) (bool, string, string) {
			return admission.Admit(node, admitted, pod)
		}
	})
	h.rt.stopDelay = 5 * time.Second // the old pod takes its time to stop
	h.apply(bigPod("old"))
	h.waitStarts(1)
	h.status("old", func(s api.PodStatus) bool { return s.Phase == api.PodRunning })

	h.apply(bigPod("new"))
	h.waitStarts(2) // the old pod's container never exits: the second start is the new pod's
	h.rt.mu.Lock()
	removed := len(h.rt.removed)
	h.rt.mu.Unlock()
	if removed != 0 {
		t.Fatal("the old pod's container was gone before the new pod started: the test did not test a terminating pod")
	}
	evs, _ := h.st.RecentEvents(context.Background(), "pod/new", 0)
	for _, ev := range evs {
		if ev.Reason == ReasonFailedAdmission {
			t.Fatalf("the new pod was refused while the old one terminated: %s", ev.Message)
		}
	}
}
