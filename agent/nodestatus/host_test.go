package nodestatus

import (
	"context"
	"testing"

	"github.com/outpost-edge/outpost/api"
)

// TestHostSmoke reads this machine, unprivileged: whatever it is, it has
// capacity and reports every condition.
func TestHostSmoke(t *testing.T) {
	c := New(Config{NodeName: "smoke", DataDir: t.TempDir() + "/not/created/yet"})
	st, err := c.Collect(context.Background())
	if err != nil {
		t.Fatalf("Collect on this machine: %v", err)
	}
	for _, r := range []string{api.ResourceCPU, api.ResourceMemory, api.ResourceEphemeralStorage, api.ResourcePods} {
		if q := st.Capacity[r]; q.Sign() <= 0 {
			t.Errorf("capacity %s = %s, want > 0", r, q)
		}
		if _, ok := st.Allocatable[r]; !ok {
			t.Errorf("allocatable %s missing", r)
		}
	}
	got := condMap(st)
	for _, typ := range []string{api.NodeMemoryPressure, api.NodeDiskPressure, api.NodePIDPressure, api.NodeReady} {
		c, ok := got[typ]
		if !ok || c.Status == api.ConditionUnknown || c.Reason == "" {
			t.Errorf("condition %s = %+v", typ, c)
		}
	}
	if st.NodeInfo.KernelVersion == "" || st.NodeInfo.CgroupVersion == 0 || st.NodeInfo.OSImage == "" {
		t.Errorf("node info %+v", st.NodeInfo)
	}
	if len(st.Addresses) == 0 {
		t.Error("no addresses (not even the hostname)")
	}
	t.Logf("capacity %v allocatable %v addresses %v info %+v", st.Capacity, st.Allocatable, st.Addresses, st.NodeInfo)
	for _, c := range st.Conditions {
		t.Logf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message)
	}

	// The real cgroup reader on a pod that does not exist is zero, not an error.
	u, err := CgroupUsage{}.PodUsage(context.Background(), "00000000-0000-0000-0000-000000000000", []string{"c"})
	if err != nil || u.Memory != 0 || u.PIDs != 0 {
		t.Errorf("usage of a missing pod: %+v, %v", u, err)
	}
}
