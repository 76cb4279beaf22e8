package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime/netns"
	"github.com/outpost-edge/outpost/runtime/testimage"
	"github.com/outpost-edge/outpost/store"
)

// The end-to-end tests build the real outpost binary and run `outpost agent`
// in a network namespace of the simulated node's own, which outlives agent
// restarts: it has only loopback (no network at all, like a device that
// boots offline), and its bridge and pods never touch the host's network.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func outpostBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "outpost-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "outpost")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// node is one simulated device: a data dir, a state dir (its /run) and a
// manifest dir, on which agents are started and killed.
type node struct {
	t                      testing.TB
	data, state, manifests string
	config                 string
	agent                  *exec.Cmd
	logs                   *syncBuffer
	// net is the node's network namespace: it outlives agent restarts, as
	// a device's network does, and keeps the tests off the host's network.
	net *netns.NS
}

func newNode(t testing.TB) *node {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "runc", "runc")
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		testenv.Skip(t, "CNI plugins missing (Debian package containernetworking-plugins)")
	}
	if _, err := testimage.FindBusybox(); err != nil {
		testenv.Skip(t, err.Error())
	}
	bin := outpostBinary(t)
	_ = bin
	state := testenv.StateDir(t, "e2e")
	n := &node{t: t, data: t.TempDir(), state: state, manifests: t.TempDir()}
	nsDir := t.TempDir()
	var err error
	if n.net, err = netns.New(nsDir, "node"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.net.Remove()
		unix.Unmount(nsDir, unix.MNT_DETACH)
	})
	if err := os.MkdirAll(filepath.Join(n.data, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := testimage.Build(filepath.Join(n.data, "images"), "outpost.local/busybox:test"); err != nil {
		t.Fatal(err)
	}
	n.config = filepath.Join(n.data, "config.yaml")
	cfg := fmt.Sprintf("nodeName: e2e\ndataDir: %s\nmanifestDir: %s\ncontainerd: {stateDir: %s}\nlog: {format: json, level: debug}\n",
		n.data, n.manifests, n.state)
	if err := os.WriteFile(n.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.cleanup)
	return n
}

// appendConfig adds lines to the node's configuration file.
func (n *node) appendConfig(lines string) {
	n.t.Helper()
	f, err := os.OpenFile(n.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		n.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(lines); err != nil {
		n.t.Fatal(err)
	}
}

// start runs `outpost agent` in a new network namespace and waits until it
// says it is ready.
func (n *node) start() {
	n.t.Helper()
	n.logs = &syncBuffer{}
	cmd := exec.Command(outpostBinary(n.t), "agent", "--config", n.config)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		n.t.Fatal(err)
	}
	// Forked on a thread in the node's namespace, the agent lives there.
	if err := n.net.Do(cmd.Start); err != nil {
		n.t.Fatal(err)
	}
	n.agent = cmd
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			n.logs.WriteLine(sc.Text())
			if strings.Contains(sc.Text(), `"message":"agent ready"`) {
				once.Do(func() { close(ready) })
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		n.t.Fatalf("agent not ready within 30 s:\n%s", n.logs.String())
	}
}

// kill9 kills the agent with SIGKILL.
func (n *node) kill9() {
	n.t.Helper()
	n.agent.Process.Signal(syscall.SIGKILL)
	n.agent.Wait()
	n.agent = nil
}

// stop stops the agent with SIGTERM (containers keep running).
// storedNodeEvents reads the node events a stopped agent's state file holds.
func storedNodeEvents(t *testing.T, stateFile string) []api.Event {
	t.Helper()
	st, err := store.Open(stateFile, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.RecentEvents(context.Background(), "node", 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (n *node) stop() {
	n.t.Helper()
	n.agent.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- n.agent.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			n.t.Errorf("agent exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		n.agent.Process.Signal(syscall.SIGQUIT) // a goroutine dump into the log
		time.Sleep(time.Second)
		n.t.Fatal("agent did not stop within 20 s of SIGTERM")
	}
	n.agent = nil
}

// drain runs `outpost agent --drain` to stop every pod.
func (n *node) drain() {
	n.t.Helper()
	var out []byte
	err := n.net.Do(func() error {
		var err error
		out, err = exec.Command(outpostBinary(n.t), "agent", "--drain", "--config", n.config).CombinedOutput()
		return err
	})
	if err != nil {
		n.t.Errorf("drain: %v\n%s", err, out)
	}
}

func (n *node) cleanup() {
	if n.agent != nil {
		n.kill9()
	}
	n.drain()
	unix.Unmount(filepath.Join(n.state, "netns"), unix.MNT_DETACH)
	os.RemoveAll(n.state)
	if n.t.Failed() && n.logs != nil {
		n.t.Logf("agent log:\n%s", n.logs.String())
	}
}

// manifest writes a static manifest file.
func (n *node) manifest(name, content string) {
	n.t.Helper()
	tmp := filepath.Join(n.manifests, "."+name)
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		n.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(n.manifests, name)); err != nil {
		n.t.Fatal(err)
	}
}

// httpGet fetches http://addr/ from inside the agent's network namespace.
// The socket is made on a thread in that namespace (net/http would dial on
// another goroutine, so another thread, so the host's namespace).
func (n *node) httpGet(addr string) (string, error) {
	ns, err := n.netns()
	if err != nil {
		return "", err
	}
	var conn net.Conn
	if err := ns.Do(func() error {
		var err error
		conn, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	}); err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", addr); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// netns is the node's network namespace.
func (n *node) netns() (*netns.NS, error) { return n.net, nil }

// podIP reads a pod's IP from its hosts file.
func (n *node) podIP(pod string) string {
	files, _ := filepath.Glob(filepath.Join(n.data, "pods", "*", "hosts"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			if len(fields) == 2 && fields[1] == pod {
				return fields[0]
			}
		}
	}
	return ""
}

// eventually retries f until it returns nil or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) WriteLine(l string) {
	s.mu.Lock()
	s.b.WriteString(l + "\n")
	s.mu.Unlock()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var _ = context.Background
