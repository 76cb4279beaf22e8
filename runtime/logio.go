package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/pkg/cio"

	"github.com/outpost-edge/outpost/runtime/logs"
)

// logIO connects a task's stdout and stderr FIFOs to the container's log
// file. The FIFOs live in <state>/fifo; the shim holds their write ends, so
// output written while no agent reads waits in the pipe until the restarted
// agent attaches again (List does that for every running task).
type logIO struct {
	fifos  *cio.FIFOSet
	direct *cio.DirectIO
	w      *logs.Writer
	once   sync.Once
}

// logCreator returns a cio.Creator writing to logPath.
func (r *Runtime) logCreator(logPath string) cio.Creator {
	return func(id string) (cio.IO, error) {
		fifos, err := cio.NewFIFOSetInDir(r.fifoRoot(), id, false)
		if err != nil {
			return nil, err
		}
		fifos.Stdin = "" // containers get no stdin (exec sessions have their own)
		return r.openLogIO(id, fifos, logPath)
	}
}

// logAttach re-opens the FIFOs of a running task after an agent restart.
func (r *Runtime) logAttach(id, logPath string) cio.Attach {
	return func(fifos *cio.FIFOSet) (cio.IO, error) {
		if fifos == nil {
			return nil, fmt.Errorf("%w: task has no fifos", ErrInvalid)
		}
		fifos.Stdin = ""
		return r.openLogIO(id, fifos, logPath)
	}
}

func (r *Runtime) fifoRoot() string { return filepath.Join(r.cfg.StateDir, "fifo") }

func (r *Runtime) openLogIO(id string, fifos *cio.FIFOSet, logPath string) (*logIO, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o750); err != nil {
		return nil, err
	}
	opts := r.cfg.Logs
	opts.Logger = r.log
	w, err := logs.NewWriter(logPath, opts)
	if err != nil {
		return nil, err
	}
	direct, err := cio.NewDirectIO(context.Background(), fifos)
	if err != nil {
		w.Close(context.Background())
		return nil, fmt.Errorf("open log fifos: %w", err)
	}
	if direct.Stdout != nil {
		w.Attach(logs.Stdout, direct.Stdout)
	}
	if direct.Stderr != nil {
		w.Attach(logs.Stderr, direct.Stderr)
	}
	l := &logIO{fifos: fifos, direct: direct, w: w}
	r.mu.Lock()
	if old := r.ios[id]; old != nil {
		old.detach()
	}
	r.ios[id] = l
	r.mu.Unlock()
	return l, nil
}

func (l *logIO) Config() cio.Config { return l.fifos.Config }
func (l *logIO) Cancel()            {}

// Wait returns when both streams reached EOF (the task exited and the shim
// closed its ends), bounded so a stuck stream cannot hang a delete.
func (l *logIO) Wait() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.close(ctx, true)
}

// Close releases the log file, the FIFOs and their directory without
// waiting for the streams: after Wait they have ended; when task creation
// failed no writer ever opened them and waiting would never end.
func (l *logIO) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.close(ctx, false)
	return nil
}

// close drains the streams first (drain) or cuts them first.
func (l *logIO) close(ctx context.Context, drain bool) {
	l.once.Do(func() {
		if !drain {
			l.direct.Close()
		}
		l.w.Close(ctx)
		if drain {
			l.direct.Close()
		}
		// A FIFO set loaded from a running task has no closer of its own.
		if dir := filepath.Dir(l.fifos.Stdout); strings.Contains(dir, string(filepath.Separator)+"fifo"+string(filepath.Separator)) {
			os.RemoveAll(dir)
		}
	})
}

// detach stops reading without waiting for EOF (agent shutdown): what the
// container writes meanwhile waits in the pipe for the next agent.
func (l *logIO) detach() {
	l.once.Do(func() {
		for _, c := range []interface{ Close() error }{l.direct.Stdout, l.direct.Stderr} {
			if c != nil {
				c.Close()
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		l.w.Close(ctx)
	})
}
