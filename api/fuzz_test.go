package api

import (
	"encoding/json"
	"testing"
)

// FuzzParseManifest proves decoding never panics, whatever the bytes, and that
// an accepted document survives a JSON round trip with the same spec hashes.
// `go test` runs the seed corpus (below and in testdata/fuzz); `go test
// -fuzz FuzzParseManifest ./api` explores further.
func FuzzParseManifest(f *testing.F) {
	for _, seed := range []string{
		webPod,
		podDoc("", ""),
		podDoc("volumes: [{name: d, hostPath: {path: /srv}}]", "volumeMounts: [{name: d, mountPath: /d}]\nlivenessProbe: {tcpSocket: {port: 80}}"),
		`{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":7,"pods":[{"metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"busybox:1"}]}}],"services":[{"metadata":{"name":"s"},"spec":{"ports":[{"port":80,"targetPort":"web"}]}}]}`,
		"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: NodePort, ports: [{port: 80, nodePort: 30080}]}\n",
		"---\n---\n",
		"kind: Pod\nmetadata: &a {name: x}\nspec: *a\n",
		"a: &a [*a]",
		"kind: Pod\nspec: {containers: [{resources: {limits: {cpu: 1e64}}}]}",
		"\t{",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ns, err := ParseManifest(data)
		if err != nil {
			if ns != nil {
				t.Fatalf("error %v with a non-nil result", err)
			}
			return
		}
		if ns.Generation == 0 {
			ns.Generation = 1 // a stream of Pods/Services; as a NodeState it needs one
		}
		b, err := json.Marshal(ns)
		if err != nil {
			t.Fatalf("marshal accepted document: %v", err)
		}
		again, err := ParseManifest(b)
		if err != nil {
			t.Fatalf("round trip rejected: %v\n%s", err, b)
		}
		if len(again.Pods) != len(ns.Pods) || len(again.Services) != len(ns.Services) {
			t.Fatalf("round trip changed the document:\n%s", b)
		}
		for i := range ns.Pods {
			if SpecHash(&ns.Pods[i]) != SpecHash(&again.Pods[i]) {
				t.Fatalf("round trip changed pod %q:\n%s", ns.Pods[i].Metadata.Name, b)
			}
		}
	})
}
