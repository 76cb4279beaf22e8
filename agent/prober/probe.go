package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// ErrInvalid marks a probe that cannot be attempted as written: no handler,
// a port name the container does not declare, an exec probe without Execer.
var ErrInvalid = errors.New("invalid probe")

// Execer runs a command in a running container and returns its exit code;
// when ctx ends first it kills the command and returns ctx's error.
// *runtime.Runtime satisfies it.
type Execer interface {
	Exec(ctx context.Context, containerID string, req runtimeapi.ExecRequest) (int, error)
}

// Target is the container a probe checks.
type Target struct {
	ContainerID string
	// PodIP is the default host of httpGet and tcpSocket probes. Empty means
	// 127.0.0.1: a hostNetwork pod shares the node's addresses.
	PodIP string
	// Ports resolves ports given by name, to their containerPort.
	Ports []api.ContainerPort
	// Execer runs exec probes; other handlers do not need it.
	Execer Execer
}

const (
	// maxOutput caps what is read of an exec probe's output or an HTTP
	// response body (kubelet's 10 KiB).
	maxOutput = 10 << 10
	// maxMessage caps Result.Output: it ends up in an event, whose message
	// Kubernetes also limits to 1 KiB.
	maxMessage = 1 << 10
)

// Run makes one attempt of p against t, bounded by ctx: the caller gives ctx
// the probe's timeout (Worker does, see TimeoutError). ok reports success; on
// failure msg says why in the words of kubelet's Unhealthy event ("HTTP probe
// failed with statuscode: 500"). A non-nil err means no attempt could be
// made (the runtime could not exec, the port cannot be resolved): kubelet
// throws such results away instead of counting them as failures.
func Run(ctx context.Context, p *api.Probe, t Target) (ok bool, msg string, err error) {
	switch {
	case p == nil:
		return false, "", fmt.Errorf("%w: nil probe", ErrInvalid)
	case p.Exec != nil:
		ok, msg, err = probeExec(ctx, p.Exec, t)
	case p.HTTPGet != nil:
		ok, msg, err = probeHTTP(ctx, p.HTTPGet, t)
	case p.TCPSocket != nil:
		ok, msg, err = probeTCP(ctx, p.TCPSocket, t)
	default:
		return false, "", fmt.Errorf("%w: no handler", ErrInvalid)
	}
	if !ok && err == nil && msg == "" {
		msg = "probe failed"
	}
	return ok, shorten(msg), err
}

// TimeoutError is the cause (context.Cause) a Worker cancels an attempt
// with when the probe's timeoutSeconds pass.
type TimeoutError struct{ Timeout time.Duration }

func (e *TimeoutError) Error() string { return "timed out after " + e.Timeout.String() }

// ended describes why ctx ended, preferring the cause it was cancelled with.
func ended(ctx context.Context) error {
	if c := context.Cause(ctx); c != nil {
		return c
	}
	return ctx.Err()
}

func probeExec(ctx context.Context, a *api.ExecAction, t Target) (bool, string, error) {
	if len(a.Command) == 0 {
		return false, "", fmt.Errorf("%w: exec probe without a command", ErrInvalid)
	}
	if t.Execer == nil {
		return false, "", fmt.Errorf("%w: exec probe without an Execer", ErrInvalid)
	}
	out := &capped{max: maxOutput}
	code, err := t.Execer.Exec(ctx, t.ContainerID, runtimeapi.ExecRequest{Cmd: a.Command, Stdout: out, Stderr: out})
	if err != nil {
		if ctx.Err() != nil {
			// A timeout is a failure (kubelet's ExecProbeTimeout); the
			// runtime has killed the command.
			return false, fmt.Sprintf("command %q: %v", strings.Join(a.Command, " "), ended(ctx)), nil
		}
		return false, "", fmt.Errorf("exec probe in %s: %w", t.ContainerID, err)
	}
	if code == 0 {
		return true, "", nil
	}
	if s := strings.TrimSpace(out.String()); s != "" {
		return false, s, nil
	}
	return false, fmt.Sprintf("command %q exited with code %d", strings.Join(a.Command, " "), code), nil
}

func probeTCP(ctx context.Context, a *api.TCPSocketAction, t Target) (bool, string, error) {
	port, err := resolvePort(a.Port, t.Ports)
	if err != nil {
		return false, "", err
	}
	addr := net.JoinHostPort(host(a.Host, t.PodIP), strconv.Itoa(port))
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Sprintf("dial tcp %s: %v", addr, ended(ctx)), nil
		}
		return false, err.Error(), nil
	}
	conn.Close()
	return true, "", nil
}

// dialer sets SO_LINGER to 1 s, as kubelet's probe dialer does, so that
// frequent probes do not leave sockets in TIME_WAIT.
var dialer = &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 1})
	})
	return errors.Join(err, serr)
}}

// host is the address a network probe connects to.
func host(explicit, podIP string) string {
	switch {
	case explicit != "":
		return explicit
	case podIP != "":
		return podIP
	default:
		return "127.0.0.1"
	}
}

// resolvePort returns port's number, looking a name up in ports. Like
// kubelet it accepts a number written as a string when no port has that name.
func resolvePort(port api.IntOrString, ports []api.ContainerPort) (int, error) {
	n := int(port.IntVal)
	if port.IsString {
		found := false
		for _, p := range ports {
			if p.Name == port.StrVal {
				n, found = int(p.ContainerPort), true
				break
			}
		}
		if !found {
			v, err := strconv.Atoi(port.StrVal)
			if err != nil {
				return 0, fmt.Errorf("%w: no container port named %q", ErrInvalid, port.StrVal)
			}
			n = v
		}
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("%w: port %d out of range", ErrInvalid, n)
	}
	return n, nil
}

// shorten trims msg to maxMessage bytes without splitting a rune.
func shorten(msg string) string {
	msg = strings.TrimSpace(msg)
	if len(msg) <= maxMessage {
		return msg
	}
	cut := maxMessage - len("...")
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "..."
}

// capped keeps the first max bytes written to it and drops the rest without
// error, so a chatty probe command is not failed for its output. Stdout and
// stderr write to it concurrently.
type capped struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.b)
}
