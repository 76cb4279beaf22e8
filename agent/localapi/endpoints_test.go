package localapi

import (
	"testing"

	"github.com/outpost-edge/outpost/netrules"
)

func TestEndpointCounts(t *testing.T) {
	st := netrules.Status{Services: []netrules.ServiceStatus{
		{Name: "web", Ports: []netrules.PortStatus{
			{Name: "http", Endpoints: make([]netrules.Endpoint, 3), Ready: 2},
			{Name: "admin", Endpoints: make([]netrules.Endpoint, 1), Ready: 1},
		}},
		{Name: "idle"},
	}}
	got := endpointCounts(st)
	if got["web"] != (EndpointCount{Ready: 2, Total: 3}) || got["idle"] != (EndpointCount{}) || len(got) != 2 {
		t.Fatalf("counts = %+v", got)
	}
}
