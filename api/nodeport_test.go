package api

import (
	"strings"
	"testing"
)

// TestNodePortNeedsAPortOfItsOwn: a NodePort service must name its node
// port (the node allocates none), and a node port may not be a pod's
// hostPort in the same document.
func TestNodePortNeedsAPortOfItsOwn(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"no nodePort", `apiVersion: v1
kind: Service
metadata: {name: s}
spec: {type: NodePort, ports: [{port: 80}]}
`, "services[s].spec.ports[0].nodePort: required when type is NodePort"},
		{"a hostPort's port", `apiVersion: v1
kind: Pod
metadata: {name: a}
spec: {containers: [{name: c, image: 'b:1', ports: [{containerPort: 80, hostPort: 30080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: s}
spec: {type: NodePort, ports: [{port: 80, nodePort: 30080}]}
`, "services[s].spec.ports[0].nodePort: TCP/30080 is already the hostPort of pods[a].spec.containers[0].ports[0]"},
		{"same number, other protocol", `apiVersion: v1
kind: Pod
metadata: {name: a}
spec: {containers: [{name: c, image: 'b:1', ports: [{containerPort: 80, hostPort: 30080, protocol: UDP}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: s}
spec: {type: NodePort, ports: [{port: 80, nodePort: 30080}]}
`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest([]byte(tt.doc))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("err = %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v\nwant %q", err, tt.want)
			}
		})
	}
}
