package runtime

import (
	"fmt"
	"path/filepath"

	"github.com/outpost-edge/outpost/runtime/containerspec"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
	"github.com/outpost-edge/outpost/runtime/safepath"
)

// bindVolumes opens the volume sources of container id that a pod can
// influence (hostPaths, subPaths) without following a link out of their
// root, and binds them on the container's private mount points, which its
// spec names. The returned func unmounts them: it is called as soon as the
// task exists, since the container then has mounts of its own, so nothing
// stays mounted on the host that a killed agent could leak.
func (r *Runtime) bindVolumes(req runtimeapi.StartRequest, id string) (unbind func(), err error) {
	pod := r.specPod(req, id)
	_, binds, err := containerspec.Mounts(pod, req.Container, r.cfg.Policy)
	if err != nil || len(binds) == 0 {
		return func() {}, err
	}
	unbind = func() {
		if err := safepath.Unbind(pod.BindDir); err != nil {
			r.log.Warn().Err(err).Str("container", id).Msg("unmounting the container's volume sources")
		}
	}
	unbind() // what an agent killed here left
	for _, b := range binds {
		f, err := b.Open()
		if err == nil {
			err = safepath.Bind(f, b.Target)
			f.Close()
			if err != nil {
				err = fmt.Errorf("container %q: %w", req.Container.Name, err)
			}
		}
		if err != nil {
			unbind()
			return nil, err
		}
	}
	return unbind, nil
}

// unbindLeftovers unmounts what an agent killed between binding a
// container's volume sources and creating its task left mounted. It runs
// before any task is created; a container that has its task has mounts of
// its own, and one that has none binds again.
func (r *Runtime) unbindLeftovers() {
	dirs, _ := filepath.Glob(filepath.Join(r.cfg.DataDir, "pods", "*", "subpaths"))
	for _, d := range dirs {
		if err := safepath.Unbind(d); err != nil {
			r.log.Warn().Err(err).Str("dir", d).Msg("unmounting volume sources a killed agent left")
		}
	}
}
