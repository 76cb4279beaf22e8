package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"

	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// Exec runs req.Cmd in container id with the container's user, env and
// working directory, and returns its exit code. When ctx ends first the
// process is killed and ctx's error returned (a probe's timeout).
func (r *Runtime) Exec(ctx context.Context, id string, req runtimeapi.ExecRequest) (int, error) {
	if len(req.Cmd) == 0 {
		return -1, fmt.Errorf("%w: exec needs a command", ErrInvalid)
	}
	nsCtx := r.ctx(context.WithoutCancel(ctx))
	cont, err := r.client.LoadContainer(nsCtx, id)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, notFound(err))
	}
	task, err := cont.Task(nsCtx, nil)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, notFound(err))
	}
	spec, err := cont.Spec(nsCtx)
	if err != nil {
		return -1, err
	}
	pspec := *spec.Process
	pspec.Args = req.Cmd
	pspec.Terminal = req.TTY
	stdout, stderr := orDiscard(req.Stdout), orDiscard(req.Stderr)
	var stdin io.Reader
	stdinDone := make(chan struct{})
	if req.Stdin != nil {
		stdin = &eofNotifier{r: req.Stdin, done: stdinDone}
	}
	opts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr), cio.WithFIFODir(r.fifoRoot())}
	if req.TTY {
		opts = append(opts, cio.WithTerminal)
	}
	execID := "exec-" + randomHex(6)
	proc, err := task.Exec(nsCtx, execID, &pspec, cio.NewCreator(opts...))
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	defer func() {
		if _, err := proc.Delete(nsCtx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			r.log.Debug().Err(err).Str("container", id).Msg("deleting exec process")
		}
	}()
	statusC, err := proc.Wait(nsCtx)
	if err != nil {
		return -1, err
	}
	if err := proc.Start(nsCtx); err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	if req.Stdin != nil {
		// Close the process's stdin once the caller's reader is drained,
		// so a command reading to EOF (cat, sh -s) finishes.
		finished := make(chan struct{})
		defer close(finished)
		go func() {
			select {
			case <-stdinDone:
				proc.CloseIO(nsCtx, client.WithStdinCloser)
			case <-finished:
			}
		}()
	}
	select {
	case st := <-statusC:
		code, _, err := st.Result()
		if err != nil {
			return -1, err
		}
		proc.IO().Wait()
		return int(code), nil
	case <-ctx.Done():
		proc.Kill(nsCtx, syscall.SIGKILL)
		select {
		case <-statusC:
		case <-time.After(killWait):
		}
		return -1, ctx.Err()
	}
}

// eofNotifier closes done when its reader reports EOF or an error.
type eofNotifier struct {
	r    io.Reader
	done chan struct{}
	once sync.Once
}

func (e *eofNotifier) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.done) })
	}
	return n, err
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func notFound(err error) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
