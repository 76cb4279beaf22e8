package localapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// podExec runs a command in a pod's running container over an upgraded
// connection (see the package doc for the framing).
func (s *Server) podExec(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tty, err := boolParam(q.Get("tty"), "tty")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	stdin, err := boolParam(q.Get("stdin"), "stdin")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cmd := q["command"]
	if len(cmd) == 0 {
		s.fail(w, r, fmt.Errorf("%w: exec needs a command (command=...)", ErrInvalid))
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), UpgradeProtocol) || !headerHasToken(r.Header, "Connection", "upgrade") {
		s.fail(w, r, fmt.Errorf("%w: exec needs Connection: Upgrade and Upgrade: %s", ErrInvalid, UpgradeProtocol))
		return
	}
	id, err := s.execTarget(r.Context(), r.PathValue("name"), q.Get("container"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.fail(w, r, fmt.Errorf("exec: %w", err))
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Time{})
	_, err = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + UpgradeProtocol + "\r\n\r\n")
	if err == nil {
		err = brw.Flush()
	}
	if err != nil {
		return
	}
	log := s.log.With().Str("pod", r.PathValue("name")).Str("container", id).Logger()
	log.Info().Strs("command", cmd).Bool("tty", tty).Msg("exec started")
	code, err := s.runExec(r.Context(), conn, brw.Reader, id, runtimeapi.ExecRequest{Cmd: cmd, TTY: tty}, stdin)
	if err != nil {
		log.Info().Err(err).Msg("exec ended")
	} else {
		log.Info().Int("code", code).Msg("exec ended")
	}
}

// runExec runs one session on a hijacked connection: frames from the client
// feed stdin, output goes back as frames, and the exit frame comes last.
func (s *Server) runExec(ctx context.Context, conn net.Conn, in *bufio.Reader, id string, req runtimeapi.ExecRequest, stdin bool) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fr := NewFramer(conn)
	req.Stdout, req.Stderr = fr.Stream(StreamStdout), fr.Stream(StreamStderr)
	pr, pw := io.Pipe()
	if stdin {
		req.Stdin = pr
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		// The client going away ends the command: runtime.Exec kills it
		// when ctx is done.
		defer cancel()
		for {
			stream, p, err := ReadFrame(in)
			if err != nil {
				pw.CloseWithError(io.ErrUnexpectedEOF)
				return
			}
			switch {
			case !stdin:
				// Not asked for: dropped, so a blocked pipe never stops
				// this loop from seeing the client go away.
			case stream == StreamStdin:
				if _, err := pw.Write(p); err != nil && !errors.Is(err, io.ErrClosedPipe) {
					return
				}
			case stream == StreamStdinClose:
				pw.Close()
			}
		}
	}()
	code, err := s.b.Exec(ctx, id, req)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	_ = fr.WriteFrame(StreamExit, ExitPayload(code, msg))
	pr.Close()
	conn.Close() // ends the reader
	<-readDone
	return code, err
}

// execTarget finds the running container of a pod to exec in.
func (s *Server) execTarget(ctx context.Context, pod, container string) (string, error) {
	ps, err := s.podSet(ctx)
	if err != nil {
		return "", err
	}
	p, err := ps.find(pod)
	if err != nil {
		return "", err
	}
	if p.Pod == nil {
		return "", fmt.Errorf("%w: pod %q is being removed", ErrConflict, pod)
	}
	var names []string
	for _, c := range p.Pod.Spec.Containers {
		names = append(names, c.Name)
	}
	switch {
	case container == "" && len(names) == 1:
		container = names[0]
	case container == "":
		return "", fmt.Errorf("%w: pod %q has several containers, name one of: %s", ErrInvalid, pod, strings.Join(names, ", "))
	case !slices.Contains(names, container):
		return "", fmt.Errorf("%w: container %q is not in pod %q (its containers: %s)", ErrNotFound, container, pod, strings.Join(names, ", "))
	}
	obs, err := s.b.Containers(ctx)
	if err != nil {
		return "", err
	}
	best := -1
	for i, o := range obs {
		if o.Ref.UID != p.UID || o.Container != container || o.Init || o.State != runtimeapi.StateRunning {
			continue
		}
		if best < 0 || o.Attempt > obs[best].Attempt {
			best = i
		}
	}
	if best < 0 {
		return "", fmt.Errorf("%w: container %q of pod %q is not running", ErrConflict, container, pod)
	}
	return obs[best].ID, nil
}

// headerHasToken reports whether a comma-separated header holds token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
