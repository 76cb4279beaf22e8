package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// SpecHash identifies a pod's defaulted spec: the agent recreates a pod only
// when this changes. Labels and annotations are not part of it, as in
// Kubernetes, so relabelling a pod never restarts it. Maps are hashed in key
// order (encoding/json sorts them), so the hash is stable across runs.
func SpecHash(p *Pod) string {
	spec := p.Spec
	b, err := json.Marshal(&spec)
	if err != nil {
		// Every field of PodSpec marshals; this cannot happen for a decoded pod.
		panic("api: marshal pod spec: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
