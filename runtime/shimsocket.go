package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/pkg/shim"
)

// shimGoneWait bounds how long RemovePod waits for the pod's shim to exit
// once its last task was deleted.
const shimGoneWait = 5 * time.Second

// removeShimSocket removes the socket of pod uid's shim once the shim is
// gone. Every container of a pod is served by one shim, grouped by the
// pod's uid (annotationShimGroup); containerd's cleanup of a task removes
// the socket it derives from the container's id, which is not the group's,
// so without this every pod ever run would leave its socket behind.
func (r *Runtime) removeShimSocket(ctx context.Context, uid string) {
	if r.server == nil {
		return // an external containerd's shims and sockets are its own
	}
	ctx = r.ctx(ctx)
	for _, debug := range []bool{false, true} {
		addr, err := shim.CreateSocketAddress(ctx, filepath.Join(r.cfg.StateDir, "s"),
			filepath.Join(r.cfg.StateDir, "containerd.sock"), uid, debug)
		if err != nil {
			continue
		}
		p := strings.TrimPrefix(addr, "unix://")
		for deadline := time.Now().Add(shimGoneWait); listened(p); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				r.log.Warn().Str("pod", uid).Str("socket", p).Msg("the pod's shim still serves after its containers were removed")
				return
			}
		}
		os.Remove(p)
	}
}
