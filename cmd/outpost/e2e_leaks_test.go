package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/testenv"
)

// stormKills is how many times the storm kills the agent; each kill comes
// 0 to stormMaxDelay after the agent was started.
const (
	stormKills    = 30
	stormMaxDelay = 5 * time.Second
)

// leakPod is a pod of the storm: steady ones sleep, crash-looping ones exit
// at once (the agent is always creating their containers), and "never" has
// an image that is not on the node, so its sandbox is made but no
// container ever starts. Pods with memVol have a Memory emptyDir (a tmpfs).
func leakPod(name, command, image string, memVol bool) string {
	vol, mount := "", ""
	if memVol {
		vol = "\n  volumes: [{name: scratch, emptyDir: {medium: Memory, sizeLimit: 1Mi}}]"
		mount = "\n    volumeMounts: [{name: scratch, mountPath: /scratch}]"
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 1%s
  containers:
  - name: main
    image: %s
    imagePullPolicy: Never
    command: ["sh", "-c", %q]%s
`, name, vol, image, command, mount)
}

// TestE2ENothingLeaksUnderKill9: the agent killed with SIGKILL at random
// moments (steady pods, crash-looping pods always creating containers, a pod
// whose container never starts) leaves nothing behind: once a new agent
// has started, every shim, bundle, socket, network namespace, veth, IP,
// cgroup, mount, container and snapshot of the node belongs to a pod, one
// of each per pod; and a drain then leaves none at all.
func TestE2ENothingLeaksUnderKill9(t *testing.T) {
	n := newNode(t)
	began := time.Now()
	n.appendConfig("pods: {backoffInitial: 500ms, backoffMax: 1s}\n")
	const img = "outpost.local/busybox:test"
	n.manifest("steady-1.yaml", leakPod("steady-1", "exec sleep 3600", img, true))
	n.manifest("steady-2.yaml", leakPod("steady-2", "exec sleep 3600", img, false))
	n.manifest("crash-1.yaml", leakPod("crash-1", "exit 1", img, false))
	n.manifest("crash-2.yaml", leakPod("crash-2", "exit 2", img, false))
	n.manifest("never.yaml", leakPod("never", "exec sleep 3600", "outpost.local/absent:1", true))

	// The first start imports the image: let it finish so that the storm
	// is about pods, not about an import cut short thirty times.
	n.start()
	n.waitPod("crash-1", "crash looping", func(s api.PodStatus) bool {
		return len(s.ContainerStatuses) == 1 && s.ContainerStatuses[0].RestartCount >= 1
	})
	n.kill9()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	for range stormKills {
		n.startNoWait()
		time.Sleep(time.Duration(rng.Int64N(int64(stormMaxDelay))))
		n.kill9()
	}
	t.Logf("storm: %d kills in %v (seed %d)", stormKills, time.Since(began).Round(time.Second), seed)
	before := n.census(nil)
	t.Logf("census right after the storm (agent dead): %+v", before)

	// The crash-looping pods now sleep (a spec change, done while the agent
	// is down), so that every pod but "never" has exactly one container.
	n.manifest("crash-1.yaml", leakPod("crash-1", "exec sleep 3600", img, false))
	n.manifest("crash-2.yaml", leakPod("crash-2", "exec sleep 3600", img, false))
	n.start()
	running := func(s api.PodStatus) bool {
		return len(s.ContainerStatuses) == 1 && s.ContainerStatuses[0].State.Running != nil
	}
	for _, p := range []string{"steady-1", "steady-2", "crash-1", "crash-2"} {
		n.waitPod(p, "running", running)
	}
	n.waitPod("never", "waiting for its image", func(s api.PodStatus) bool {
		return len(s.ContainerStatuses) == 1 && s.ContainerStatuses[0].State.Waiting != nil
	})
	uids := n.podUIDs()
	if len(uids) != 5 {
		t.Fatalf("pod dirs for %d uids, want 5: %v", len(uids), uids)
	}
	// Four pods with a container; five sandboxes (netns, veth, IP); two
	// tmpfs emptyDirs; a pinned netns and a container rootfs are mounts.
	want := census{Shims: 4, Bundles: 4, Sockets: 4, NetNS: 5, Veths: 5, IPs: 5, PodCgroups: 4, CtrCgroups: 4,
		Mounts: 5 + 4 + 2, Containers: 4, Snapshots: 4}
	// Polled: the new agent removes what the old ones left as it starts
	// and as it recreates the changed pods.
	var got census
	for deadline := time.Now().Add(60 * time.Second); ; {
		n.stop() // containerd's metadata is read with the agent down
		if got = n.census(uids); got == want || time.Now().After(deadline) {
			break
		}
		n.start()
		time.Sleep(time.Second)
	}
	t.Logf("census after the storm and a restart: %+v", got)
	if got != want {
		t.Errorf("census after the storm and a restart %+v, want %+v; bundles %v", got, want, n.bundles())
	}

	n.drain()
	got = n.census(uids)
	t.Logf("census after a drain: %+v", got)
	if got != (census{}) {
		t.Errorf("a drain left %+v, want nothing; bundles %v", got, n.bundles())
	}
	t.Logf("storm test took %v", time.Since(began).Round(time.Second))
}

// startNoWait starts `outpost agent` and returns at once; its output is
// discarded.
func (n *node) startNoWait() {
	n.t.Helper()
	cmd := exec.Command(outpostBinary(n.t), "agent", "--config", n.config)
	cmd.Stderr = io.Discard
	if err := n.net.Do(cmd.Start); err != nil {
		n.t.Fatal(err)
	}
	n.agent = cmd
}

// census counts what the node's agent owns, scoped to the node's data and
// state dirs, its network namespace and its pods' cgroups.
type census struct {
	Shims      int // shim processes serving this node's containerd
	Bundles    int // task bundles in containerd's state dir
	Sockets    int // shim sockets
	NetNS      int // pinned pod network namespaces (files in the pin dir)
	Veths      int // host ends of pod interfaces in the node's namespace
	IPs        int // host-local allocations
	PodCgroups int // pod cgroup directories
	CtrCgroups int // container cgroup directories below them
	Mounts     int // mounts under the data and state dirs, but the pin dir's own
	Containers int // containers in containerd's metadata
	Snapshots  int // container snapshots (not image layers) in containerd's metadata
}

// census counts; uids are the pods whose cgroups are counted. The
// containerd metadata is read from its bolt file, so the agent must be down.
func (n *node) census(uids []string) census {
	n.t.Helper()
	var c census
	c.Shims = len(testenv.ShimPIDs(n.state))
	c.Bundles = countEntries(filepath.Join(n.state, "io.containerd.runtime.v2.task", "outpost"))
	c.Sockets = countEntries(filepath.Join(n.state, "s"))
	c.NetNS = countEntries(filepath.Join(n.state, "netns"))
	if err := n.net.Do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			if strings.HasPrefix(i.Name, "veth") {
				c.Veths++
			}
		}
		return err
	}); err != nil {
		n.t.Fatal(err)
	}
	ips, _ := os.ReadDir(filepath.Join(n.data, "cni", "networks", "outpost"))
	for _, e := range ips {
		if _, err := netip.ParseAddr(e.Name()); err == nil {
			c.IPs++
		}
	}
	c.PodCgroups, c.CtrCgroups = podCgroups(uids)
	c.Mounts = n.mounts()
	c.Containers, c.Snapshots = n.containerdRecords()
	return c
}

// bundles names the task bundles in containerd's state dir.
func (n *node) bundles() []string {
	entries, _ := os.ReadDir(filepath.Join(n.state, "io.containerd.runtime.v2.task", "outpost"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func countEntries(dir string) int {
	entries, _ := os.ReadDir(dir)
	return len(entries)
}

// podCgroups counts the pods of uids with a cgroup directory
// (/outpost/pod<uid>) in any hierarchy, and their container directories.
func podCgroups(uids []string) (pods, ctrs int) {
	roots := []string{"/sys/fs/cgroup"}
	if v1, _ := filepath.Glob("/sys/fs/cgroup/*/outpost"); len(v1) > 0 || !isCgroup2("/sys/fs/cgroup") {
		roots, _ = filepath.Glob("/sys/fs/cgroup/*")
	}
	for _, uid := range uids {
		found, children := false, map[string]bool{}
		for _, r := range roots {
			entries, err := os.ReadDir(filepath.Join(r, "outpost", "pod"+uid))
			if err != nil {
				continue
			}
			found = true
			for _, e := range entries {
				if e.IsDir() {
					children[e.Name()] = true
				}
			}
		}
		if found {
			pods++
		}
		ctrs += len(children)
	}
	return pods, ctrs
}

func isCgroup2(p string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(p, &st) == nil && st.Type == 0x63677270
}

// mounts counts the mounts under the node's data and state dirs, leaving
// out the pin dir's mount on itself (it stays for the node's lifetime).
func (n *node) mounts() int {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		n.t.Fatal(err)
	}
	defer f.Close()
	pins := filepath.Join(n.state, "netns")
	count := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || fields[4] == pins {
			continue
		}
		for _, d := range []string{n.data, n.state} {
			if strings.HasPrefix(fields[4], d+"/") {
				count++
			}
		}
	}
	return count
}

// containerdRecords counts the containers and the container snapshots
// (keyed by container ID; image layers are keyed by their chain ID) that
// containerd's metadata holds in the outpost namespace.
func (n *node) containerdRecords() (containers, snapshots int) {
	n.t.Helper()
	path := filepath.Join(n.data, "containerd", "io.containerd.metadata.v1.bolt", "meta.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		n.t.Fatalf("open containerd metadata: %v", err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		ns := tx.Bucket([]byte("v1")).Bucket([]byte("outpost"))
		if ns == nil {
			return nil
		}
		if b := ns.Bucket([]byte("containers")); b != nil {
			b.ForEach(func(k, v []byte) error { containers++; return nil })
		}
		if b := ns.Bucket([]byte("snapshots")); b != nil {
			b.ForEach(func(snapshotter, _ []byte) error {
				b.Bucket(snapshotter).ForEach(func(k, _ []byte) error {
					if !strings.HasPrefix(string(k), "sha256:") {
						snapshots++
					}
					return nil
				})
				return nil
			})
		}
		return nil
	})
	return containers, snapshots
}

// podUIDs are the uids of the pods that have a directory on the node.
func (n *node) podUIDs() []string {
	entries, _ := os.ReadDir(filepath.Join(n.data, "pods"))
	var uids []string
	for _, e := range entries {
		uids = append(uids, e.Name())
	}
	return uids
}
