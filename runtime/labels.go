package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
)

// Labels on every container the runtime creates.
const (
	LabelPodSource = "dev.outpost.pod.source"
	LabelPodName   = "dev.outpost.pod.name"
	LabelPodUID    = "dev.outpost.pod.uid"
	LabelContainer = "dev.outpost.container.name"
	LabelInit      = "dev.outpost.container.init"
	LabelSpecHash  = "dev.outpost.pod.spec-hash"
	LabelAttempt   = "dev.outpost.container.attempt"
	LabelStartedAt = "dev.outpost.container.started-at"
	LabelLogPath   = "dev.outpost.container.log"
)

// annotationShimGroup makes the runc v2 shim serve every container of a pod
// from one shim process: its manager groups by this annotation of the OCI
// spec (cmd/containerd-shim-runc-v2/manager), not by a container label.
const annotationShimGroup = "io.containerd.runc.v2.group"

// containerID is deterministic, so that a create retried after a crash
// finds the container it already made: <uid[:12]>-<name>-<attempt>, the name
// shortened with a hash when it is long (containerd IDs stop at 76 chars).
func containerID(uid, name string, attempt int) string {
	short := uid
	if len(short) > 12 {
		short = short[:12]
	}
	if len(name) > 48 {
		sum := sha256.Sum256([]byte(name))
		name = name[:39] + "-" + hex.EncodeToString(sum[:4])
	}
	return fmt.Sprintf("%s-%s-%d", short, name, attempt)
}

func labelInt(labels map[string]string, key string) int {
	n, _ := strconv.Atoi(labels[key])
	return n
}
