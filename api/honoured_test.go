package api

import (
	"strings"
	"testing"
)

// TestFieldsNotHonouredAreRefused: fields the node would accept and then
// not honour are refused with the reason: a NodePort service must name its
// node port (the node allocates none), which may not be a pod's hostPort in
// the same document, a disk emptyDir has no size limit, host ports are IPv4.
func TestFieldsNotHonouredAreRefused(t *testing.T) {
	pod := func(extra string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n" + extra
	}
	tests := []struct {
		name, doc, want string
	}{
		{"sizeLimit on a disk emptyDir",
			pod("  volumes: [{name: v, emptyDir: {sizeLimit: 1Gi}}]\n  containers: [{name: c, image: 'b:1'}]\n"),
			`pods[p].spec.volumes[0].emptyDir.sizeLimit: is enforced only with medium: "Memory"`},
		{"sizeLimit on a memory emptyDir",
			pod("  volumes: [{name: v, emptyDir: {medium: Memory, sizeLimit: 64Mi}}]\n  containers: [{name: c, image: 'b:1'}]\n"), ""},
		{"IPv6 hostIP",
			pod("  containers: [{name: c, image: 'b:1', ports: [{containerPort: 80, hostPort: 8080, hostIP: 'fd00::1'}]}]\n"),
			"pods[p].spec.containers[0].ports[0].hostIP: fd00::1: host ports are IPv4 only"},
		{"IPv4 hostIP",
			pod("  containers: [{name: c, image: 'b:1', ports: [{containerPort: 80, hostPort: 8080, hostIP: 192.168.1.2}]}]\n"), ""},
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
