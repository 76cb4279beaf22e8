package runtime_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime"
	"github.com/outpost-edge/outpost/runtime/cni"
	"github.com/outpost-edge/outpost/runtime/netns"
)

// nodeNetwork runs the CNI plugins inside a throwaway "node" namespace, so
// the test's bridge and veths never appear on the host. Pod namespaces are
// made by the runtime as usual.
type nodeNetwork struct {
	node *netns.NS
	net  runtime.Network
}

func (n nodeNetwork) Setup(ctx context.Context, podID, nsPath string) (res runtime.NetworkResult, err error) {
	err = n.node.Do(func() error {
		res, err = n.net.Setup(ctx, podID, nsPath)
		return err
	})
	return res, err
}

func (n nodeNetwork) Teardown(ctx context.Context, podID, nsPath string) error {
	return n.node.Do(func() error { return n.net.Teardown(ctx, podID, nsPath) })
}

func withPodNetwork(t testing.TB) func(*runtime.Config) {
	t.Helper()
	testenv.RequireRoot(t)
	b := make([]byte, 4)
	rand.Read(b)
	suffix := hex.EncodeToString(b)
	nsDir := t.TempDir()
	node, err := netns.New(nsDir, "node"+suffix)
	if err != nil {
		t.Fatalf("node namespace: %v", err)
	}
	t.Cleanup(func() {
		node.Remove()
		unmountDir(t, nsDir)
	})
	dir := t.TempDir()
	var n *cni.Network
	err = node.Do(func() error {
		var err error
		n, err = cni.New(context.Background(), cni.Config{
			ConfDir: filepath.Join(dir, "net.d"), DataDir: filepath.Join(dir, "networks"), CacheDir: filepath.Join(dir, "cache"),
			PodCIDR: netip.MustParsePrefix("10.99.0.0/24"), BridgeName: "ot" + suffix,
		}, zerolog.Nop())
		return err
	})
	if err != nil {
		testenv.Skip(t, "CNI: "+err.Error())
	}
	return func(c *runtime.Config) { c.Network = nodeNetwork{node: node, net: runtime.CNI(n)} }
}

const httpdPod = `apiVersion: v1
kind: Pod
metadata: {name: NAME}
spec:
  containers:
  - name: web
    image: IMAGE
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /www && echo hello from NAME > /www/index.html && exec httpd -f -p 8080 -h /www"]
  - name: client
    image: IMAGE
    imagePullPolicy: Never
    command: ["sh", "-c", "for i in $(seq 50); do wget -q -O - http://127.0.0.1:8080/ && break; sleep 0.1; done; echo host=$(hostname); cat /etc/hosts; sleep 3600"]
`

// TestPodNetworking: two containers of one pod talk over localhost, and a
// pod reaches another pod by its IP over the bridge.
func TestPodNetworking(t *testing.T) {
	e := newEnv(t, withPodNetwork(t))
	_, sbA, startedA := e.run(pod(t, strings.ReplaceAll(httpdPod, "NAME", "pod-a")))
	ipA, err := sbA.WaitNetwork(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !ipA.IsValid() || !netip.MustParsePrefix("10.99.0.0/24").Contains(ipA) {
		t.Fatalf("pod IP %v not from the pod CIDR", ipA)
	}
	waitLog(t, startedA[1].LogPath, "hello from pod-a", 30*time.Second)
	waitLog(t, startedA[1].LogPath, "host=pod-a", 5*time.Second)
	waitLog(t, startedA[1].LogPath, ipA.String()+"\tpod-a", 5*time.Second) // its /etc/hosts

	doc := `apiVersion: v1
kind: Pod
metadata: {name: pod-b}
spec:
  containers:
  - name: client
    image: IMAGE
    imagePullPolicy: Never
    command: ["sh", "-c", "for i in $(seq 50); do wget -q -O - http://` + ipA.String() + `:8080/ && break; sleep 0.1; done; sleep 3600"]
`
	_, sbB, startedB := e.run(pod(t, doc))
	if ipB, _ := sbB.WaitNetwork(context.Background()); ipB == ipA {
		t.Fatalf("both pods got %v", ipA)
	}
	waitLog(t, startedB[0].LogPath, "hello from pod-a", 30*time.Second)
}

func waitLog(t testing.TB, path, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not say %q within %v:\n%s", path, want, timeout, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLogCount waits until the file at path holds want at least n times.
func waitLogCount(t testing.TB, path, want string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		got := strings.Count(string(b), want)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q %d times, not %d, after %v", path, want, got, n, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unmountDir undoes the self bind mount netns makes of its pin directory.
func unmountDir(t testing.TB, dir string) {
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		t.Errorf("unmount %s: %v", dir, err)
	}
}
