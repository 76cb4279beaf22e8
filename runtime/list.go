package runtime

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

func deleteRequest(id string) *tasksapi.DeleteTaskRequest {
	return &tasksapi.DeleteTaskRequest{ContainerID: id}
}

// List returns every container outpost created, with its task's state. A
// running task whose log FIFOs this process is not reading yet (an agent
// restart) is attached again, so its output keeps flowing to its log file.
func (r *Runtime) List(ctx context.Context) ([]runtimeapi.Observed, error) {
	ctx = r.ctx(ctx)
	conts, err := r.client.Containers(ctx, fmt.Sprintf("labels.%q", LabelPodUID))
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]runtimeapi.Observed, 0, len(conts))
	for _, cont := range conts {
		info, err := cont.Info(ctx, client.WithoutRefreshedMetadata)
		if err != nil {
			if errdefs.IsNotFound(err) {
				continue // deleted meanwhile
			}
			return nil, err
		}
		l := info.Labels
		o := runtimeapi.Observed{
			ID:        cont.ID(),
			Ref:       runtimeapi.PodRef{Source: l[LabelPodSource], Name: l[LabelPodName], UID: l[LabelPodUID]},
			Container: l[LabelContainer],
			Init:      l[LabelInit] == "true",
			SpecHash:  l[LabelSpecHash],
			Attempt:   labelInt(l, LabelAttempt),
			LogPath:   l[LabelLogPath],
			State:     runtimeapi.StateCreated,
		}
		o.StartedAt, _ = time.Parse(time.RFC3339Nano, l[LabelStartedAt])
		r.observeTask(ctx, cont, &o)
		out = append(out, o)
	}
	return out, nil
}

func (r *Runtime) observeTask(ctx context.Context, cont client.Container, o *runtimeapi.Observed) {
	task, err := cont.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return
	}
	if err != nil {
		o.State = runtimeapi.StateUnknown
		return
	}
	st, err := task.Status(ctx)
	if err != nil {
		o.State = runtimeapi.StateUnknown
		return
	}
	o.PID = task.Pid()
	switch st.Status {
	case client.Running, client.Paused, client.Pausing:
		o.State = runtimeapi.StateRunning
		if o.StartedAt.IsZero() {
			o.StartedAt = processStart(o.PID)
		}
		r.reattachLogs(ctx, cont, o.ID, o.LogPath)
	case client.Stopped:
		o.State = runtimeapi.StateExited
		o.Exit = r.peekExit(o.ID, int32(st.ExitStatus), st.ExitTime)
	case client.Created:
		o.State = runtimeapi.StateCreated
	default:
		o.State = runtimeapi.StateUnknown
	}
}

// reattachLogs opens the FIFOs of a running task this process is not
// reading yet (after an agent restart). Only running tasks: a FIFO whose
// writer is gone would never deliver EOF.
func (r *Runtime) reattachLogs(ctx context.Context, cont client.Container, id, logPath string) {
	if r.attached(id) || logPath == "" {
		return
	}
	if _, err := cont.Task(ctx, r.logAttach(id, logPath)); err != nil {
		r.log.Warn().Err(err).Str("container", id).Msg("re-attaching logs")
	}
}

func (r *Runtime) attached(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ios[id] != nil
}

// releaseIO closes the log plumbing of a container whose task is deleted.
func (r *Runtime) releaseIO(id string) {
	r.mu.Lock()
	io := r.ios[id]
	delete(r.ios, id)
	r.mu.Unlock()
	if io != nil {
		io.Close()
	}
}

// peekExit names an exit: OOMKilled when an OOM event came for the
// container, Completed for 0, Error otherwise.
func (r *Runtime) peekExit(id string, code int32, at time.Time) runtimeapi.Exit {
	r.mu.Lock()
	oom := r.oom[id]
	r.mu.Unlock()
	e := runtimeapi.Exit{Code: code, ExitedAt: at, Reason: runtimeapi.ReasonError}
	switch {
	case oom && code != 0:
		// The kernel killed the container's main process (a child killed
		// by the OOM killer while the main process carries on is not an
		// OOMKilled container, as in Kubernetes).
		e.Reason = runtimeapi.ReasonOOMKilled
	case code == 0:
		e.Reason = runtimeapi.ReasonCompleted
	}
	return e
}

// processStart is when process pid started, from /proc (field 22 of its
// stat, in clock ticks since boot, plus the boot time); zero if unknown.
func processStart(pid uint32) time.Time {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return time.Time{}
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return time.Time{}
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return time.Time{}
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return time.Time{}
	}
	st, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for _, line := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			boot, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}
			}
			const hz = 100 // USER_HZ on every Linux architecture Outpost runs on
			return time.Unix(boot, 0).Add(time.Duration(ticks) * time.Second / hz)
		}
	}
	return time.Time{}
}
