package netrules

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/outpost-edge/outpost/api"
)

// BigCluster is services ClusterIP services with endpoints ready pods each
// (exported for the benchmark in package netrules_test).
func BigCluster(services, endpoints int) ([]api.Service, []Pod) {
	var svcs []api.Service
	var pods []Pod
	for s := range services {
		sel := map[string]string{"svc": fmt.Sprintf("s%d", s)}
		svcs = append(svcs, api.Service{
			Metadata: api.ObjectMeta{Name: fmt.Sprintf("svc%d", s)},
			Spec: api.ServiceSpec{Type: api.ServiceTypeClusterIP, Selector: sel,
				ClusterIP: netip.AddrFrom4([4]byte{10, 96, byte(s >> 8), byte(s)}).String(),
				Ports:     []api.ServicePort{{Port: 80, TargetPort: api.FromInt(8080)}}},
		})
		for e := range endpoints {
			i := s*endpoints + e
			pods = append(pods, testPod(fmt.Sprintf("p%d", i), netip.AddrFrom4([4]byte{10, 88, byte(i >> 8), byte(i)}).String(), true, sel, api.ContainerPort{ContainerPort: 8080}))
		}
	}
	return svcs, pods
}

// TestEndpointCacheMatchesFullComputation changes pods and services at
// random, in place too, and checks that the cache computes what the full
// computation does.
func TestEndpointCacheMatchesFullComputation(t *testing.T) {
	svcs, pods := BigCluster(50, 4)
	svcs[3].Spec.Type = api.ServiceTypeNodePort
	svcs[3].Spec.Ports[0].NodePort = 30001
	pods[7].Pod.Spec.Containers[0].Ports[0].HostPort = 9000
	c := newEndpointCache()
	rng := uint64(1)
	next := func(n int) int { rng = rng*6364136223846793005 + 1442695040888963407; return int(rng>>33) % max(n, 1) }
	for step := range 400 {
		switch next(8) {
		case 0:
			i := next(len(pods))
			pods[i].Ready = !pods[i].Ready
		case 1:
			i := next(len(pods))
			pods[i].Pod = &api.Pod{Metadata: api.ObjectMeta{Name: pods[i].Pod.Metadata.Name, Labels: map[string]string{"svc": fmt.Sprintf("s%d", next(50))}},
				Spec: pods[i].Pod.Spec}
		case 2:
			if len(pods) < 10 {
				continue
			}
			i := next(len(pods))
			pods = append(pods[:i:i], pods[i+1:]...)
		case 3:
			pods = append(pods, testPod(fmt.Sprintf("n%d", step), netip.AddrFrom4([4]byte{10, 88, 200, byte(step)}).String(), next(2) == 0,
				map[string]string{"svc": fmt.Sprintf("s%d", next(50))}, api.ContainerPort{ContainerPort: 8080, HostPort: int32(next(3) * 7000)}))
		case 4:
			i := next(len(svcs))
			svcs[i].Spec.Ports = []api.ServicePort{{Port: int32(80 + next(3)), TargetPort: api.FromInt(8080)}}
		case 5:
			i := next(len(pods))
			pods[i].IP = netip.AddrFrom4([4]byte{10, 88, 201, byte(step)})
		case 6:
			i := next(len(pods))
			pods[i].Pod.Metadata.Labels["svc"] = fmt.Sprintf("s%d", next(50)) // in place
		case 7:
			if len(svcs) < 10 {
				continue
			}
			i := next(len(svcs))
			svcs = append(svcs[:i:i], svcs[i+1:]...)
		}
		wantS, wantSk := servicePorts(svcs, pods)
		wantH, wantHk := hostPorts(pods)
		gotS, gotH, gotSk, ok := c.update(svcs, pods)
		if !ok {
			t.Fatal("not ok")
		}
		if fmt.Sprint(gotS) != fmt.Sprint(wantS) || fmt.Sprint(gotH) != fmt.Sprint(wantH) || len(gotSk) != len(wantSk)+len(wantHk) {
			t.Fatalf("step %d:\n%v\n%v\n%v\n%v", step, gotS, wantS, gotH, wantH)
		}
	}
}
