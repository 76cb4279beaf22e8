package runtime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/containerspec"
	"github.com/outpost-edge/outpost/runtime/images"
	"github.com/outpost-edge/outpost/runtime/podfiles"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// StartContainer ensures the image, creates the container with its labels
// and spec, attaches its log file and starts it. It is idempotent for a
// given (pod, container, attempt): a retry after a crash finds what the
// first try made.
func (r *Runtime) StartContainer(ctx context.Context, req runtimeapi.StartRequest) (runtimeapi.Started, error) {
	ctx = r.ctx(ctx)
	c := req.Container
	id := containerID(req.Ref.UID, c.Name, req.Attempt)
	logPath := podfiles.Dir(req.Sandbox.Dir).ContainerLog(c.Name, req.Attempt)
	if err := pruneAttemptLogs(filepath.Dir(logPath), req.Attempt-1); err != nil {
		r.log.Warn().Err(err).Str("pod", req.Ref.Name).Str("container", c.Name).Msg("removing the logs of old attempts")
	}

	img, pulled, err := r.ensureImage(ctx, c.Image, c.ImagePullPolicy)
	if err != nil {
		return runtimeapi.Started{}, err
	}
	started := runtimeapi.Started{ID: id, LogPath: logPath, Image: img.Name(), ImageID: img.Target().Digest.String(), Pulled: pulled}

	cont, err := r.client.LoadContainer(ctx, id)
	switch {
	case errdefs.IsNotFound(err):
		cont, err = r.createContainer(ctx, req, id, logPath, img)
		if err != nil {
			return started, err
		}
	case err != nil:
		return started, fmt.Errorf("load container %s: %w", id, err)
	}

	task, err := cont.Task(ctx, r.logAttach(id, logPath))
	if errdefs.IsNotFound(err) {
		task, err = r.newTask(ctx, cont, req, id, logPath)
	}
	if err != nil {
		return started, fmt.Errorf("create task %s: %w", id, err)
	}
	status, err := task.Status(ctx)
	if err != nil {
		return started, fmt.Errorf("task status %s: %w", id, err)
	}
	if status.Status == client.Created {
		if _, err := req.Sandbox.WaitNetwork(ctx); err != nil {
			return started, err
		}
		if err := task.Start(ctx); err != nil {
			return started, fmt.Errorf("start %s: %w", id, err)
		}
		started.StartedAt = time.Now()
		// The start time is for a later agent adopting the container; it
		// is recorded off the start path (a metadata write is an fsync).
		// If this process dies first, List reads it from /proc.
		go func() {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if _, err := cont.SetLabels(lctx, map[string]string{LabelStartedAt: started.StartedAt.UTC().Format(time.RFC3339Nano)}); err != nil {
				r.log.Warn().Err(err).Str("container", id).Msg("recording start time")
			}
		}()
	} else {
		labels, _ := cont.Labels(ctx)
		started.StartedAt, _ = time.Parse(time.RFC3339Nano, labels[LabelStartedAt])
		if started.StartedAt.IsZero() {
			started.StartedAt = processStart(task.Pid())
		}
	}
	started.PID = task.Pid()
	r.log.Debug().Str("pod", req.Ref.Name).Str("container", c.Name).Str("id", id).Uint32("pid", started.PID).Msg("container started")
	return started, nil
}

func (r *Runtime) createContainer(ctx context.Context, req runtimeapi.StartRequest, id, logPath string, img client.Image) (client.Container, error) {
	var cfg ocispec.Image
	if err := imageConfig(ctx, img, &cfg); err != nil {
		return nil, err
	}
	specOpts, err := containerspec.Options(r.specPod(req, id), req.Container, cfg.Config, r.cfg.Policy)
	if err != nil {
		return nil, err
	}
	specOpts = append(specOpts, oci.WithAnnotations(map[string]string{annotationShimGroup: req.Ref.UID}))
	labels := map[string]string{
		LabelPodSource: req.Ref.Source,
		LabelPodName:   req.Ref.Name,
		LabelPodUID:    req.Ref.UID,
		LabelContainer: req.Container.Name,
		LabelSpecHash:  api.SpecHash(req.Pod),
		LabelAttempt:   strconv.Itoa(req.Attempt),
		LabelLogPath:   logPath,
	}
	if req.Init {
		labels[LabelInit] = "true"
	}
	opts := []client.NewContainerOpts{client.WithImage(img)}
	if r.server != nil {
		// runc keeps its container state under our state dir (tmpfs), not
		// in the machine-wide /run/containerd/runc: a reboot or a wiped
		// state dir leaves nothing behind, and nothing collides with a
		// containerd the device may also run.
		opts = append(opts, client.WithRuntime(r.client.Runtime(), &runcoptions.Options{Root: filepath.Join(r.cfg.StateDir, "runc")}))
	}
	opts = append(opts,
		client.WithSnapshotter(images.DefaultSnapshotter),
		client.WithNewSnapshot(id, img),
		client.WithNewSpec(specOpts...),
		client.WithContainerLabels(labels),
	)
	cont, err := r.client.NewContainer(ctx, id, opts...)
	if errdefs.IsAlreadyExists(err) {
		// An agent killed between preparing the snapshot and recording the
		// container (the caller found no container of this ID) left the
		// snapshot behind: without this, the attempt could never start.
		if rerr := r.client.SnapshotService(images.DefaultSnapshotter).Remove(ctx, id); rerr == nil {
			r.log.Info().Str("container", id).Msg("removed the snapshot a killed agent left, creating again")
			cont, err = r.client.NewContainer(ctx, id, opts...)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", id, err)
	}
	return cont, nil
}

// specPod is what the spec of container id needs of its pod.
func (r *Runtime) specPod(req runtimeapi.StartRequest, id string) containerspec.Pod {
	sb := req.Sandbox
	dir := podfiles.Dir(sb.Dir)
	return containerspec.Pod{
		Spec:           req.Pod,
		NetNSPath:      sb.NetNSPath,
		HostsPath:      sb.HostsPath,
		ResolvConfPath: sb.ResolvConfPath,
		VolumeDir:      dir.Volume,
		BindDir:        filepath.Join(dir.Subpaths(), id),
		CgroupParent:   podCgroup(req.Ref.UID),
		CgroupV2:       r.cgroupV2,
		PidsLimit:      r.cfg.PidsLimit,
	}
}

// newTask creates the task of container id (runc create: the container's
// mounts are made), with its volume sources bound for that moment only
// (bindVolumes).
func (r *Runtime) newTask(ctx context.Context, cont client.Container, req runtimeapi.StartRequest, id, logPath string) (client.Task, error) {
	unbind, err := r.bindVolumes(req, id)
	if err != nil {
		return nil, err
	}
	defer unbind()
	task, err := cont.NewTask(ctx, r.logCreator(logPath))
	if err == nil {
		// runc made the pod's cgroup with its first container.
		if err := r.limitPodPids(req.Ref.UID); err != nil {
			r.log.Warn().Err(err).Str("pod", req.Ref.Name).Msg("setting the pod's pids limit")
		}
	}
	return task, err
}

func imageConfig(ctx context.Context, img client.Image, out *ocispec.Image) error {
	spec, err := img.Spec(ctx)
	if err != nil {
		return fmt.Errorf("read image config of %s: %w", img.Name(), err)
	}
	*out = spec
	return nil
}

// ensureImage finds the image locally. Pulling from registries is added by
// the images package's Puller when the configuration names registries.
func (r *Runtime) ensureImage(ctx context.Context, ref, policy string) (client.Image, bool, error) {
	if r.pull != nil {
		return r.pull(ctx, ref, policy)
	}
	for _, name := range imageNames(ref) {
		img, err := r.client.GetImage(ctx, name)
		if err == nil {
			return img, false, nil
		}
		if !errdefs.IsNotFound(err) {
			return nil, false, err
		}
	}
	return nil, false, fmt.Errorf("image %s: %w", ref, ErrImageNotPresent)
}

// ErrImageNotPresent is returned when an image is neither local nor pullable.
var ErrImageNotPresent = errors.New("image not present on the node")

// imageNames is ref as written and as Docker normalizes it
// (busybox -> docker.io/library/busybox:latest).
func imageNames(ref string) []string {
	named, err := reference.ParseDockerRef(ref)
	if err != nil || named.String() == ref {
		return []string{ref}
	}
	return []string{ref, named.String()}
}
