package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"
)

// The Debian root file system the package test installs into: minbase plus
// systemd (booted by systemd-nspawn), the package's dependencies and nft to
// look at the tables. Built once by mmdebstrap from this machine's apt
// sources and kept as a tarball in the cache (OUTPOST_PKGTEST_CACHE, by
// default /var/cache/outpost-pkgtest); a different list gets another file.
var rootfsPackages = []string{"systemd", "systemd-sysv", "dbus", "runc", "containernetworking-plugins", "nftables"}

func pkgtestCache() string {
	if d := os.Getenv("OUTPOST_PKGTEST_CACHE"); d != "" {
		return d
	}
	return "/var/cache/outpost-pkgtest"
}

// rootfsTarball returns the cached root file system of this machine's
// Debian release, building it when missing.
func rootfsTarball(t *testing.T) string {
	t.Helper()
	suite := osRelease("VERSION_CODENAME")
	if suite == "" {
		testenv.Skip(t, "no VERSION_CODENAME in /etc/os-release: not a Debian machine")
	}
	key := sha256.Sum256([]byte(suite + " " + strings.Join(rootfsPackages, ",")))
	path := filepath.Join(pkgtestCache(), fmt.Sprintf("rootfs-%s-%x.tar", suite, key[:6]))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	mmdebstrap := testenv.RequireBinary(t, "mmdebstrap", "mmdebstrap")
	// The mirrors are the machine's own: mmdebstrap takes a sources file
	// as a mirror argument.
	var sources []string
	for _, glob := range []string{"/etc/apt/sources.list", "/etc/apt/sources.list.d/*.list", "/etc/apt/sources.list.d/*.sources"} {
		m, _ := filepath.Glob(glob)
		for _, f := range m {
			if st, err := os.Stat(f); err == nil && st.Size() > 0 {
				sources = append(sources, f)
			}
		}
	}
	if len(sources) == 0 {
		testenv.Skip(t, "no apt sources on this machine to build the test's Debian root from")
	}
	if err := os.MkdirAll(pkgtestCache(), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := fmt.Sprintf("%s.tmp%d.tar", strings.TrimSuffix(path, ".tar"), os.Getpid())
	defer os.Remove(tmp)
	began := time.Now()
	args := append([]string{"--variant=minbase", "--format=tar", "--include=" + strings.Join(rootfsPackages, ","), suite, tmp}, sources...)
	if out, err := exec.Command(mmdebstrap, args...).CombinedOutput(); err != nil {
		t.Fatalf("mmdebstrap: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %s", path, time.Since(began).Round(time.Second))
	return path
}

func osRelease(key string) string {
	data, _ := os.ReadFile("/etc/os-release")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// container is a booted systemd-nspawn container with its own network.
type container struct {
	t      *testing.T
	root   string
	leader int // its systemd, PID 1 inside
}

// bootContainer unpacks the root file system and boots it. The container
// runs in a cgroup of its own (on hybrid and unified hierarchies) and is
// killed, with everything it started, at the end of the test.
func bootContainer(t *testing.T, tarball string) *container {
	t.Helper()
	root := unpackRoot(t, tarball)
	controllers := v1Controllers()
	args := []string{"-b",
		// runc gives each container a session keyring, which nspawn's
		// default seccomp filter refuses.
		"--system-call-filter=@keyring"}
	for _, ctl := range controllers {
		args = append(args, "--bind=/sys/fs/cgroup/"+ctl+":/run/host-cgroup/"+ctl)
	}
	cmd, cgroups := nspawnCmd(t, root, args...)
	var console testenv.Buffer
	cmd.Stdout, cmd.Stderr = &console, &console
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &container{t: t, root: root}
	t.Cleanup(func() {
		// Killing the container's PID 1 kills every process of its PID
		// namespace, the pods' nested ones included.
		if c.leader > 0 {
			syscall.Kill(c.leader, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		cmd.Wait()
		for _, g := range cgroups {
			removeCgroup(g)
		}
		// The cgroups of pods the container still ran (a failed test).
		pods, _ := os.ReadDir(filepath.Join(root, "var/lib/outpost/pods"))
		for _, p := range pods {
			for _, ctl := range controllers {
				removeCgroup(filepath.Join("/sys/fs/cgroup", ctl, "outpost", "pod"+p.Name()))
			}
		}
		if t.Failed() {
			t.Logf("container console:\n%s", console.String())
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for c.leader == 0 && time.Now().Before(deadline) {
		for _, p := range descendants(cmd.Process.Pid) {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p)); string(comm) == "systemd\n" {
				c.leader = p
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c.leader == 0 {
		t.Fatalf("the container's systemd did not start:\n%s", console.String())
	}
	// is-system-running --wait returns once start-up is over, and fails
	// at once while the system bus is not up yet.
	var out string
	for time.Now().Before(deadline) {
		out, _ = c.run("systemctl", "is-system-running", "--wait")
		if !strings.Contains(out, "Failed to connect to bus") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s := strings.TrimSpace(out); s != "running" && s != "degraded" {
		out2, _ := c.run("systemctl", "--failed", "--no-pager")
		t.Fatalf("the container did not boot: %q\n%s", s, out2)
	}
	// nspawn mounts cgroup v1 controllers read-only: runc could not make
	// the pods' cgroups. Put the host's, bound at /run/host-cgroup, in
	// their place before the agent starts (its unit's mount namespace is
	// a copy of this one). The pods' cgroups are then /outpost/pod<uid>
	// on the host, as when the runtime's tests run there.
	for _, ctl := range controllers {
		c.must("mount", "--bind", "/run/host-cgroup/"+ctl, "/sys/fs/cgroup/"+ctl)
	}
	return c
}

// v1Controllers lists the cgroup v1 controller hierarchies mounted under
// /sys/fs/cgroup (none on a cgroup v2 only machine).
func v1Controllers() []string {
	data, _ := os.ReadFile("/proc/self/mounts")
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[2] != "cgroup" || !strings.HasPrefix(f[1], "/sys/fs/cgroup/") {
			continue
		}
		ctl := strings.TrimPrefix(f[1], "/sys/fs/cgroup/")
		if ctl != "systemd" && !strings.Contains(ctl, "/") {
			out = append(out, ctl)
		}
	}
	return out
}

func unpackRoot(t *testing.T, tarball string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-C", root, "-xf", tarball).CombinedOutput(); err != nil {
		t.Fatalf("unpack the root: %v\n%s", err, out)
	}
	return root
}

var containers atomic.Int32

// nspawnCmd is systemd-nspawn on root with its own network, started in
// cgroups of its own (which the caller removes once it ended).
func nspawnCmd(t *testing.T, root string, args ...string) (*exec.Cmd, []string) {
	t.Helper()
	nspawn := testenv.RequireBinary(t, "systemd-nspawn", "systemd-container")
	name := fmt.Sprintf("outpost-pkgtest-%d-%d", os.Getpid(), containers.Add(1))
	cgroups := ownCgroups(t, name)
	script := `for g in "$@"; do echo $$ > "$g/cgroup.procs" || exit 1; done; exec ` + nspawn +
		` -q -D ` + root + ` -M ` + name + ` --register=no --keep-unit --private-network ` + strings.Join(args, " ")
	cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, cgroups...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, cgroups
}

// ownCgroups makes a cgroup named name below this process's own in the
// systemd-managed hierarchies there are (name=systemd v1, v2), so that what
// the container creates stays under it.
func ownCgroups(t *testing.T, name string) []string {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var mnt string
		switch {
		case parts[1] == "name=systemd":
			mnt = "/sys/fs/cgroup/systemd"
		case parts[0] == "0" && parts[1] == "":
			for _, m := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
				if _, err := os.Stat(filepath.Join(m, "cgroup.controllers")); err == nil {
					mnt = m
					break
				}
			}
		}
		if mnt == "" {
			continue
		}
		dir := filepath.Join(mnt, parts[2], name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatalf("cgroup for the container: %v", err)
		}
		out = append(out, dir)
	}
	return out
}

// removeCgroup removes dir and the cgroups below it, deepest first, once
// their processes are gone.
func removeCgroup(dir string) {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	deadline := time.Now().Add(30 * time.Second)
	for i := len(dirs) - 1; i >= 0; i-- {
		for {
			err := os.Remove(dirs[i])
			if err == nil || errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// descendants lists the processes below pid.
func descendants(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 {
			parent[p], _ = strconv.Atoi(fields[1])
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// run runs a command in the container (all its namespaces, its root).
func (c *container) run(args ...string) (string, error) {
	full := append([]string{"-t", strconv.Itoa(c.leader), "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w",
		"env", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}, args...)
	out, err := exec.Command("nsenter", full...).CombinedOutput()
	return string(out), err
}

func (c *container) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// findProcess returns the container's process whose command line contains
// s, or 0.
func (c *container) findProcess(s string) int {
	for _, p := range descendants(c.leader) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		if strings.Contains(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})), s) {
			return p
		}
	}
	return 0
}

func (c *container) path(p string) string { return filepath.Join(c.root, p) }

func (c *container) exists(p string) bool {
	_, err := os.Lstat(c.path(p))
	return err == nil
}
