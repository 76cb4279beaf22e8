package runtime

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// killWait bounds waiting for a task to die after SIGKILL.
const killWait = 10 * time.Second

// StopContainer stops a container's task with grace: SIGTERM, then SIGKILL
// to every process of the container after grace. It deletes the task (not
// the container) and returns how it ended. Stopping a container with no
// task returns a zero Exit and no error.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) (runtimeapi.Exit, error) {
	ctx = r.ctx(ctx)
	cont, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return runtimeapi.Exit{}, nil
	}
	if err != nil {
		return runtimeapi.Exit{}, err
	}
	// The task is loaded without IO: the log plumbing is this process's
	// (r.ios) and is released once the task is deleted.
	task, err := cont.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		r.releaseIO(id)
		return runtimeapi.Exit{}, nil
	}
	if err != nil {
		return r.forceDeleteTask(ctx, id, err)
	}
	exitCh, err := task.Wait(ctx)
	if err != nil {
		return r.forceDeleteTask(ctx, id, err)
	}
	status, err := task.Status(ctx)
	if err != nil {
		return r.forceDeleteTask(ctx, id, err)
	}
	if status.Status == client.Running || status.Status == client.Paused {
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn().Err(err).Str("container", id).Msg("SIGTERM")
		}
		timer := time.NewTimer(grace)
		select {
		case <-exitCh:
			timer.Stop()
		case <-timer.C:
			r.log.Info().Str("container", id).Dur("grace", grace).Msg("grace period over, sending SIGKILL")
			if err := task.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
				r.log.Warn().Err(err).Str("container", id).Msg("SIGKILL")
			}
			select {
			case <-exitCh:
			case <-time.After(killWait):
				return runtimeapi.Exit{}, fmt.Errorf("container %s did not die %v after SIGKILL", id, killWait)
			case <-ctx.Done():
				return runtimeapi.Exit{}, ctx.Err()
			}
		case <-ctx.Done():
			timer.Stop()
			return runtimeapi.Exit{}, ctx.Err()
		}
	}
	var delOpts []client.ProcessDeleteOpts
	if status.Status == client.Created {
		// Created, never started (an agent stopped between create and
		// start): its init process exists, so it must be killed to go.
		delOpts = append(delOpts, client.WithProcessKill)
	}
	r.waitIO(id)
	st, err := task.Delete(ctx, delOpts...)
	if err != nil && !errdefs.IsNotFound(err) {
		return runtimeapi.Exit{}, fmt.Errorf("delete task %s: %w", id, err)
	}
	r.releaseIO(id)
	if st == nil {
		return runtimeapi.Exit{Reason: runtimeapi.ReasonError}, nil
	}
	return r.exitOf(id, int32(st.ExitCode()), st.ExitTime()), nil
}

// forceDeleteTask removes a task containerd can no longer talk to (its shim
// died): the container's processes are gone with it, the exit is unknown.
func (r *Runtime) forceDeleteTask(ctx context.Context, id string, cause error) (runtimeapi.Exit, error) {
	r.log.Warn().Err(cause).Str("container", id).Msg("task unreachable, removing it")
	_, err := r.client.TaskService().Delete(ctx, deleteRequest(id))
	r.releaseIO(id)
	if err != nil && !errdefs.IsNotFound(err) {
		return runtimeapi.Exit{}, fmt.Errorf("delete task %s after %v: %w", id, cause, err)
	}
	return runtimeapi.Exit{Code: 255, Reason: runtimeapi.ReasonShimDied, ExitedAt: time.Now()}, nil
}

// exitOf is peekExit that also consumes the container's OOM mark.
func (r *Runtime) exitOf(id string, code int32, at time.Time) runtimeapi.Exit {
	e := r.peekExit(id, code, at)
	r.mu.Lock()
	delete(r.oom, id)
	r.mu.Unlock()
	return e
}

// RemoveContainer stops (without grace) and deletes a container and its
// snapshot. Its log file stays. Removing a missing container is not an error.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	if _, err := r.StopContainer(ctx, id, 0); err != nil {
		return err
	}
	ctx = r.ctx(ctx)
	cont, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := cont.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	r.releaseIO(id)
	return nil
}

// waitIO lets the log copiers drain what the exited task wrote.
func (r *Runtime) waitIO(id string) {
	r.mu.Lock()
	io := r.ios[id]
	r.mu.Unlock()
	if io != nil {
		io.Wait()
	}
}
