package localapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/outpost-edge/outpost/runtime/logs"
	"github.com/outpost-edge/outpost/runtime/podfiles"
)

// podLogs streams a container's log as text: its current attempt's, or with
// previous=true the attempt before. With follow=true it streams until the
// client goes away or the server stops.
func (s *Server) podLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := logs.ReadOptions{Tail: -1}
	var err error
	if opts.Follow, err = boolParam(q.Get("follow"), "follow"); err != nil {
		s.fail(w, r, err)
		return
	}
	previous, err := boolParam(q.Get("previous"), "previous")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if opts.Timestamps, err = boolParam(q.Get("timestamps"), "timestamps"); err != nil {
		s.fail(w, r, err)
		return
	}
	if v := q.Get("tail"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 {
			s.fail(w, r, fmt.Errorf("%w: tail %q: want a number of lines, or -1 for all", ErrInvalid, v))
			return
		}
		opts.Tail = n
	}
	path, err := s.logPath(r.Context(), r.PathValue("name"), q.Get("container"), previous)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	fw := &flushWriter{w: w, rc: http.NewResponseController(w)}
	if err := logs.Read(r.Context(), path, opts, fw); err != nil && r.Context().Err() == nil {
		s.log.Warn().Err(err).Str("path", path).Msg("reading container log")
	}
}

// logPath finds the log file of a pod's container attempt.
func (s *Server) logPath(ctx context.Context, pod, container string, previous bool) (string, error) {
	ps, err := s.podSet(ctx)
	if err != nil {
		return "", err
	}
	p, err := ps.find(pod)
	if err != nil {
		return "", err
	}
	names := containerNames(p)
	switch {
	case container == "" && len(names) == 1:
		container = names[0]
	case container == "":
		return "", fmt.Errorf("%w: pod %q has several containers, name one of: %s", ErrInvalid, pod, strings.Join(names, ", "))
	case !slices.Contains(names, container):
		return "", fmt.Errorf("%w: container %q is not in pod %q (its containers: %s)", ErrNotFound, container, pod, strings.Join(names, ", "))
	}
	uid := p.UID
	if uid == "" && p.Status != nil {
		uid = p.Status.UID
	}
	if uid == "" {
		return "", fmt.Errorf("%w: pod %q has no uid yet", ErrNotFound, pod)
	}
	dir := podfiles.Dir(filepath.Join(s.opts.DataDir, "pods", uid))
	attempts, err := logAttempts(filepath.Dir(dir.ContainerLog(container, 0)))
	if err != nil {
		return "", err
	}
	switch {
	case len(attempts) == 0:
		return "", fmt.Errorf("%w: container %q of pod %q has not logged anything yet", ErrNotFound, container, pod)
	case previous && len(attempts) < 2:
		return "", fmt.Errorf("%w: previous terminated container %q in pod %q", ErrNotFound, container, pod)
	case previous:
		return dir.ContainerLog(container, attempts[len(attempts)-2]), nil
	}
	return dir.ContainerLog(container, attempts[len(attempts)-1]), nil
}

// containerNames lists a pod's containers, regular ones first.
func containerNames(p *PodInfo) []string {
	var names []string
	if p.Pod != nil {
		for _, c := range p.Pod.Spec.Containers {
			names = append(names, c.Name)
		}
		for _, c := range p.Pod.Spec.InitContainers {
			names = append(names, c.Name)
		}
		return names
	}
	for _, c := range p.Status.ContainerStatuses {
		names = append(names, c.Name)
	}
	for _, c := range p.Status.InitContainerStatuses {
		names = append(names, c.Name)
	}
	return names
}

// logAttempts returns the attempts with a live log file in dir
// (<attempt>.log; rotated files are <attempt>.log.N), in increasing order.
func logAttempts(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list logs: %w", err)
	}
	var out []int
	for _, e := range ents {
		num, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(num); err == nil && n >= 0 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

func boolParam(v, name string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%w: %s %q: want true or false", ErrInvalid, name, v)
	}
	return b, nil
}

// flushWriter sends every write to the client at once: logs.Read buffers
// and writes whenever it has caught up.
type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, f.rc.Flush()
}
