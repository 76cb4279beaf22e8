package main

import (
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime/testimage"
)

const repoRoot = "../.."

// TestPackageLifecycle installs the outpost package into a booted Debian
// container (mmdebstrap + systemd-nspawn), with a static pod waiting in
// the manifest directory, then upgrades, removes and purges it:
//   - install: files in place, the unit enabled and started, the pod runs;
//   - upgrade: the agent restarts (a new main PID) but the pod's process
//     keeps its PID (KillMode=process, adoption), the edited conffile stays;
//   - remove: the node is drained (the pod's process ends), the agent's
//     nftables table is gone, the configuration and the data dir stay;
//   - purge: the configuration, the data dir and the unit's state are gone.
func TestPackageLifecycle(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "dpkg-deb", "dpkg")
	testenv.RequireBinary(t, "nsenter", "util-linux")
	arch, ok := map[string]string{"amd64": "amd64", "arm64": "arm64", "arm": "armhf"}[goruntime.GOARCH]
	if !ok {
		testenv.Skip(t, "no package for "+goruntime.GOARCH)
	}
	tarball := rootfsTarball(t)
	debs := buildTestDebs(t, arch, "1.0.0", "1.0.1")
	c := bootContainer(t, tarball)

	// What the first start finds: an image to import and a static pod.
	if err := os.MkdirAll(c.path("/var/lib/outpost/images"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := testimage.Build(c.path("/var/lib/outpost/images"), "outpost.local/busybox:test"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(c.path("/etc/outpost/manifests"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, c.path("/etc/outpost/manifests/sleeper.yaml"), sleeperPod)
	for _, d := range debs {
		if err := copyFile(d, c.path("/root/"+filepath.Base(d))); err != nil {
			t.Fatal(err)
		}
	}
	deb := func(i int) string { return "/root/" + filepath.Base(debs[i]) }

	// Install.
	c.must("dpkg", "-i", deb(0))
	for _, f := range []string{"/usr/bin/outpost", "/usr/lib/systemd/system/outpost.service",
		"/usr/lib/modules-load.d/outpost.conf", "/etc/outpost/config.yaml", "/usr/share/doc/outpost/copyright"} {
		if !c.exists(f) {
			t.Errorf("%s is not installed", f)
		}
	}
	checkMode(t, c.path("/etc/outpost/config.yaml"), 0o600)
	checkMode(t, c.path("/var/lib/outpost"), 0o700|os.ModeDir)
	if s := strings.TrimSpace(c.must("systemctl", "is-enabled", "outpost")); s != "enabled" {
		t.Errorf("after install the unit is %s, want enabled", s)
	}
	agent1 := mainPID(t, c)
	pod := waitProcess(t, c, "sleep 3600")
	t.Logf("installed: agent %s, pod process %d", agent1, pod)

	// Upgrade, with an edited conffile.
	cfg := readFile(t, c.path("/etc/outpost/config.yaml")) + "log:\n  level: debug\n"
	writeFile(t, c.path("/etc/outpost/config.yaml"), cfg)
	c.must("dpkg", "-i", deb(1))
	if v := c.must("dpkg-query", "-W", "-f=${Version}", "outpost"); v != "1.0.1" {
		t.Errorf("after the upgrade the version is %q", v)
	}
	if got := readFile(t, c.path("/etc/outpost/config.yaml")); got != cfg {
		t.Errorf("the upgrade changed the edited config.yaml:\n%s", got)
	}
	if c.exists("/etc/outpost/config.yaml.dpkg-dist") || c.exists("/etc/outpost/config.yaml.dpkg-new") {
		t.Error("the upgrade left a config.yaml.dpkg-* file")
	}
	agent2 := mainPID(t, c)
	if agent2 == agent1 {
		t.Errorf("the upgrade did not restart the agent (main PID %s)", agent1)
	}
	// The restart returned once the new agent was ready, which is after
	// it adopted or restarted every pod: the same PID means adopted.
	if p := c.findProcess("sleep 3600"); p != pod {
		t.Errorf("the upgrade restarted the pod: its process was %d, now %d", pod, p)
	}
	if !strings.Contains(c.must("nft", "list", "tables"), "table ip outpost") {
		t.Error("the agent's nftables table is missing after the upgrade")
	}

	// Remove: drained, configuration and data kept.
	writeFile(t, c.path("/var/lib/outpost/pods-data-marker"), "kept\n")
	c.must("dpkg", "-r", "outpost")
	if c.exists("/usr/bin/outpost") {
		t.Error("/usr/bin/outpost is still there after remove")
	}
	waitGone(t, c, "sleep 3600")
	if s, _ := c.run("systemctl", "is-active", "outpost"); strings.TrimSpace(s) == "active" {
		t.Error("the agent still runs after remove")
	}
	if strings.Contains(c.must("nft", "list", "tables"), "outpost") {
		t.Error("the agent's nftables table is still there after remove")
	}
	if got := readFile(t, c.path("/etc/outpost/config.yaml")); got != cfg {
		t.Error("remove changed or deleted config.yaml")
	}
	for _, f := range []string{"/var/lib/outpost/pods-data-marker", "/var/lib/outpost/state.db"} {
		if !c.exists(f) {
			t.Errorf("remove deleted %s", f)
		}
	}
	if s := c.must("dpkg-query", "-W", "-f=${db:Status-Abbrev}", "outpost"); strings.TrimSpace(s) != "rc" {
		t.Errorf("after remove the package is %q, want rc", s)
	}

	// Purge: everything goes.
	c.must("dpkg", "-P", "outpost")
	for _, f := range []string{"/etc/outpost/config.yaml", "/var/lib/outpost", "/run/outpost",
		"/etc/systemd/system/multi-user.target.wants/outpost.service", "/etc/systemd/system/outpost.service"} {
		if c.exists(f) {
			t.Errorf("%s is still there after purge", f)
		}
	}
}

// A pod whose one process is easy to find by its command line.
const sleeperPod = `apiVersion: v1
kind: Pod
metadata:
  name: sleeper
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: sleep
    image: outpost.local/busybox:test
    imagePullPolicy: Never
    command: ["sleep", "3600"]
`

// buildTestDebs builds the outpost binary for this machine and packages
// it once per version, with gzip (xz is slow and changes nothing tested).
func buildTestDebs(t *testing.T, arch string, versions ...string) []string {
	t.Helper()
	dist := t.TempDir()
	cross := debArches[arch]
	for _, cmd := range []string{"outpost", "outpostctl"} {
		build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=pkgtest",
			"-o", filepath.Join(dist, cmd+"-"+cross), "./cmd/"+cmd)
		build.Dir = repoRoot
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", cmd, err, out)
		}
	}
	var debs []string
	for _, v := range versions {
		o := options{describe: v, root: repoRoot, dist: dist, compress: "gzip", date: time.Unix(1700000000, 0).UTC()}
		outs, err := o.buildArch(arch)
		if err != nil {
			t.Fatal(err)
		}
		debs = append(debs, outs[0])
	}
	return debs
}

func mainPID(t *testing.T, c *container) string {
	t.Helper()
	pid := strings.TrimSpace(strings.TrimPrefix(c.must("systemctl", "show", "-p", "MainPID", "outpost"), "MainPID="))
	if pid == "0" {
		out, _ := c.run("journalctl", "-u", "outpost", "--no-pager", "-n", "50")
		t.Fatalf("the agent does not run:\n%s", out)
	}
	return pid
}

func waitProcess(t *testing.T, c *container, cmdline string) int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if p := c.findProcess(cmdline); p != 0 {
			return p
		}
		time.Sleep(200 * time.Millisecond)
	}
	pods, _ := c.run("outpost", "get", "pods", "-o", "wide")
	out, _ := c.run("journalctl", "-u", "outpost", "--no-pager", "-n", "50")
	t.Fatalf("no process %q in the container after 2 minutes:\n%s\n%s", cmdline, pods, out)
	return 0
}

func waitGone(t *testing.T, c *container, cmdline string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for c.findProcess(cmdline) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("process %q still runs in the container", cmdline)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return
	}
	if st.Mode()&(os.ModeDir|os.ModePerm) != want {
		t.Errorf("%s has mode %v, want %v", path, st.Mode(), want)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// TestPackageInstallWithoutSystemd installs, removes and purges the package
// where systemd does not run (an image build, a chroot): postinst only
// enables the unit, the agent starts at the first boot.
func TestPackageInstallWithoutSystemd(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "dpkg-deb", "dpkg")
	arch, ok := map[string]string{"amd64": "amd64", "arm64": "arm64", "arm": "armhf"}[goruntime.GOARCH]
	if !ok {
		testenv.Skip(t, "no package for "+goruntime.GOARCH)
	}
	tarball := rootfsTarball(t)
	debs := buildTestDebs(t, arch, "1.0.0")
	root := unpackRoot(t, tarball)
	if err := copyFile(debs[0], filepath.Join(root, "root", "outpost.deb")); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		cmd, cgroups := nspawnCmd(t, root, append([]string{"--pipe"}, args...)...)
		out, err := cmd.CombinedOutput()
		for _, g := range cgroups {
			removeCgroup(g)
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	exists := func(p string) bool { _, err := os.Lstat(filepath.Join(root, p)); return err == nil }

	run("dpkg", "-i", "/root/outpost.deb")
	if !exists("/etc/systemd/system/multi-user.target.wants/outpost.service") {
		t.Error("the unit is not enabled")
	}
	if exists("/var/lib/outpost/state.db") {
		t.Error("the agent ran during the installation")
	}
	run("dpkg", "-P", "outpost")
	for _, f := range []string{"/usr/bin/outpost", "/etc/outpost/config.yaml", "/var/lib/outpost",
		"/etc/systemd/system/multi-user.target.wants/outpost.service"} {
		if exists(f) {
			t.Errorf("%s is still there after purge", f)
		}
	}
}
