package containerspec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/outpost-edge/outpost/api"
)

func parsePod(t *testing.T, doc string) *api.Pod {
	t.Helper()
	ns, err := api.ParseManifest([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return &ns.Pods[0]
}

func podWith(container string) string {
	return "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: c\n    image: busybox:1\n" +
		indent(container, "    ")
}

func indent(s, p string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = p + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

var busybox = ocispec.ImageConfig{Env: []string{"PATH=/bin", "A=image"}, Cmd: []string{"sleep", "3600"}}

func generate(t *testing.T, pod Pod, image ocispec.ImageConfig, policy Policy) (*specs.Spec, error) {
	t.Helper()
	opts, err := Options(pod, &pod.Spec.Spec.Containers[0], image, policy)
	if err != nil {
		return nil, err
	}
	ctx := namespaces.WithNamespace(context.Background(), "test")
	return oci.GenerateSpec(ctx, nil, &containers.Container{ID: "c1"}, opts...)
}

func basePod(t *testing.T, container string) Pod {
	return Pod{Spec: parsePod(t, podWith(container)), NetNSPath: "/run/outpost/netns/x", HostsPath: "/pods/x/hosts",
		ResolvConfPath: "/pods/x/resolv.conf", CgroupParent: "/outpost/podx",
		VolumeDir: func(name string) string { return "/pods/x/volumes/" + name }, BindDir: "/pods/x/subpaths/c1"}
}

func TestDefaults(t *testing.T) {
	s, err := generate(t, basePod(t, ""), busybox, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Process.Args, []string{"sleep", "3600"}) {
		t.Errorf("args = %q", s.Process.Args)
	}
	if !s.Process.NoNewPrivileges {
		t.Error("no-new-privileges is off")
	}
	if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActErrno {
		t.Errorf("seccomp = %+v, want the default profile", s.Linux.Seccomp)
	}
	if slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") || !slices.Contains(s.Process.Capabilities.Bounding, "CAP_CHOWN") {
		t.Errorf("caps = %v, want containerd's default set", s.Process.Capabilities.Bounding)
	}
	if s.Hostname != "web" || s.Root.Readonly {
		t.Errorf("hostname %q readonly %v", s.Hostname, s.Root.Readonly)
	}
	if s.Linux.CgroupsPath != "/outpost/podx/c" {
		t.Errorf("cgroup = %q", s.Linux.CgroupsPath)
	}
	var netns string
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			netns = n.Path
		}
	}
	if netns != "/run/outpost/netns/x" {
		t.Errorf("netns = %q", netns)
	}
	if !slices.Contains(s.Process.Env, "HOSTNAME=web") || !slices.Contains(s.Process.Env, "A=image") {
		t.Errorf("env = %q", s.Process.Env)
	}
	if !hasMount(s, "/etc/hosts", "/pods/x/hosts") || !hasMount(s, "/etc/resolv.conf", "/pods/x/resolv.conf") {
		t.Errorf("mounts = %+v", s.Mounts)
	}
}

func hasMount(s *specs.Spec, dst, src string) bool {
	for _, m := range s.Mounts {
		if m.Destination == dst && m.Source == src {
			return true
		}
	}
	return false
}

func TestContainerSettings(t *testing.T) {
	tests := []struct {
		name      string
		container string
		check     func(t *testing.T, s *specs.Spec)
	}{
		{"command and args replace the image's", "command: [httpd]\nargs: [-f]", func(t *testing.T, s *specs.Spec) {
			if !slices.Equal(s.Process.Args, []string{"httpd", "-f"}) {
				t.Errorf("args = %q", s.Process.Args)
			}
		}},
		{"args keep the entrypoint", "args: [-f]", func(t *testing.T, s *specs.Spec) {
			if !slices.Equal(s.Process.Args, []string{"/entry", "-f"}) {
				t.Errorf("args = %q", s.Process.Args)
			}
		}},
		{"env overrides the image", "env: [{name: A, value: spec}, {name: B, value: b}]", func(t *testing.T, s *specs.Spec) {
			if !slices.Contains(s.Process.Env, "A=spec") || slices.Contains(s.Process.Env, "A=image") || !slices.Contains(s.Process.Env, "B=b") {
				t.Errorf("env = %q", s.Process.Env)
			}
		}},
		{"limits", "resources: {limits: {memory: 64Mi, cpu: 250m}, requests: {cpu: 100m}}", func(t *testing.T, s *specs.Spec) {
			r := s.Linux.Resources
			if *r.Memory.Limit != 64<<20 || *r.Memory.Swap != 64<<20 {
				t.Errorf("memory = %d swap %d", *r.Memory.Limit, *r.Memory.Swap)
			}
			if *r.CPU.Quota != 25000 || *r.CPU.Period != 100000 || *r.CPU.Shares != 102 {
				t.Errorf("cpu = quota %d period %d shares %d", *r.CPU.Quota, *r.CPU.Period, *r.CPU.Shares)
			}
		}},
		{"user and group", "securityContext: {runAsUser: 1000, runAsGroup: 2000}", func(t *testing.T, s *specs.Spec) {
			if s.Process.User.UID != 1000 || s.Process.User.GID != 2000 {
				t.Errorf("user = %+v", s.Process.User)
			}
		}},
		{"read-only rootfs", "securityContext: {readOnlyRootFilesystem: true}", func(t *testing.T, s *specs.Spec) {
			if !s.Root.Readonly {
				t.Error("root is writable")
			}
		}},
		{"drop all then add one", "securityContext: {capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}}", func(t *testing.T, s *specs.Spec) {
			if b := s.Process.Capabilities.Bounding; !slices.Equal(b, []string{"CAP_NET_BIND_SERVICE"}) {
				t.Errorf("caps = %v", b)
			}
		}},
		{"privilege escalation allowed", "securityContext: {allowPrivilegeEscalation: true}", func(t *testing.T, s *specs.Spec) {
			if s.Process.NoNewPrivileges {
				t.Error("no-new-privileges still set")
			}
		}},
		{"emptyDir mount", "volumeMounts: [{name: data, mountPath: /data, readOnly: true}]", func(t *testing.T, s *specs.Spec) {
			if !hasMount(s, "/data", "/pods/x/volumes/data") {
				t.Errorf("mounts = %+v", s.Mounts)
			}
			for _, m := range s.Mounts {
				if m.Destination == "/data" && !slices.Contains(m.Options, "ro") {
					t.Errorf("options = %v", m.Options)
				}
			}
		}},
	}
	image := busybox
	image.Entrypoint = []string{"/entry"}
	image.Cmd = []string{"default"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := podWith(tt.container)
			if strings.Contains(tt.container, "volumeMounts") {
				doc += "  volumes: [{name: data, emptyDir: {}}]\n"
			}
			pod := basePod(t, "")
			pod.Spec = parsePod(t, doc)
			s, err := generate(t, pod, image, Policy{})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestHostNetwork(t *testing.T) {
	pod := basePod(t, "")
	pod.Spec.Spec.HostNetwork = true
	_, err := generate(t, pod, busybox, Policy{AllowPrivileged: true})
	if !errors.Is(err, ErrForbidden) || err.Error() != `container "c": hostNetwork: forbidden by node policy (set runtime.allowHostNetwork)` {
		t.Fatalf("hostNetwork without runtime.allowHostNetwork: err = %v", err)
	}
	s, err := generate(t, pod, busybox, Policy{AllowHostNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace || n.Type == specs.UTSNamespace {
			t.Errorf("hostNetwork pod has its own %s namespace", n.Type)
		}
	}
	if !hasMount(s, "/etc/resolv.conf", "/etc/resolv.conf") {
		t.Errorf("host resolv.conf not mounted: %+v", s.Mounts)
	}
}

// TestPidsLimit: each container's cgroup is capped (the pod's is by the
// runtime); 0 sets no limit.
func TestPidsLimit(t *testing.T) {
	pod := basePod(t, "")
	s, err := generate(t, pod, busybox, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Linux.Resources != nil && s.Linux.Resources.Pids != nil {
		t.Errorf("pids limit without one configured: %+v", s.Linux.Resources.Pids)
	}
	pod.PidsLimit = 1024
	if s, err = generate(t, pod, busybox, Policy{}); err != nil {
		t.Fatal(err)
	}
	if s.Linux.Resources.Pids == nil || s.Linux.Resources.Pids.Limit == nil || *s.Linux.Resources.Pids.Limit != 1024 {
		t.Errorf("pids = %+v, want a limit of 1024", s.Linux.Resources.Pids)
	}
}

func TestPrivileged(t *testing.T) {
	pod := basePod(t, "securityContext: {privileged: true}")
	if _, err := generate(t, pod, busybox, Policy{}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("privileged without policy: err = %v", err)
	}
	s, err := generate(t, pod, busybox, Policy{AllowPrivileged: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") || s.Linux.Seccomp != nil {
		t.Errorf("privileged: caps %v seccomp %v", s.Process.Capabilities.Bounding, s.Linux.Seccomp)
	}
}

func TestHostPathPolicy(t *testing.T) {
	root := t.TempDir()
	allowed := filepath.Join(root, "srv")
	outside := filepath.Join(root, "etc")
	for _, d := range []string{allowed, outside, filepath.Join(allowed, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(allowed, "escape")); err != nil {
		t.Fatal(err)
	}
	policy := Policy{HostPathPrefixes: []string{allowed}}
	tests := []struct {
		path   string
		policy Policy
		ok     bool
	}{
		{filepath.Join(allowed, "data"), policy, true},
		{allowed, policy, true},
		{filepath.Join(allowed, "new"), policy, true}, // DirectoryOrCreate: may not exist yet
		{outside, policy, false},
		{allowed + "x", policy, false},
		{filepath.Join(allowed, "escape"), policy, false},
		{filepath.Join(allowed, "escape", "new"), policy, false}, // not there yet, but below a link that leaves
		{filepath.Join(allowed, "data"), Policy{}, false},
	}
	for _, tt := range tests {
		_, err := HostPath(tt.path, tt.policy)
		if tt.ok && err != nil {
			t.Errorf("HostPath(%s): %v", tt.path, err)
		}
		if !tt.ok && !errors.Is(err, ErrForbidden) {
			t.Errorf("HostPath(%s) = %v, want ErrForbidden", tt.path, err)
		}
	}
}

// TestSubPath: a subPath is given as a Bind on the container's private
// mount point; opening it refuses an escape through a link or "..", and
// makes the directory inside an emptyDir. The shapes of links and the race
// are in runtime/safepath; the race with real containers in runtime.
func TestSubPath(t *testing.T) {
	vols := t.TempDir()
	if err := os.MkdirAll(filepath.Join(vols, "v"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(vols, "v", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../..", filepath.Join(vols, "v", "up")); err != nil {
		t.Fatal(err)
	}
	open := func(sub string) (*os.File, []specs.Mount, error) {
		pod := basePod(t, "")
		pod.VolumeDir = func(name string) string { return filepath.Join(vols, name) }
		pod.Spec = parsePod(t, podWith("volumeMounts: [{name: v, mountPath: /all}, {name: v, mountPath: /sub, subPath: '"+sub+"'}]")+
			"  volumes: [{name: v, emptyDir: {}}]\n")
		mounts, binds, err := Mounts(pod, &pod.Spec.Spec.Containers[0], Policy{})
		if err != nil || len(binds) != 1 {
			t.Fatalf("Mounts: %v, %v", binds, err)
		}
		f, err := binds[0].Open()
		return f, mounts, err
	}
	for _, sub := range []string{"link", "link/passwd", "up", "up/etc"} {
		if f, _, err := open(sub); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "it leaves the volume") {
			t.Errorf("subPath %q: err = %v, want ErrForbidden", sub, err)
			if f != nil {
				f.Close()
			}
		}
	}
	f, mounts, err := open("a/b")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !sameFile(t, f, filepath.Join(vols, "v/a/b")) {
		t.Errorf("subPath a/b opened %s", f.Name())
	}
	// The whole volume is mounted by path (the agent's own directory), the
	// subPath through the private mount point, never by its path.
	if !slices.ContainsFunc(mounts, func(m specs.Mount) bool { return m.Destination == "/all" && m.Source == filepath.Join(vols, "v") }) ||
		!slices.ContainsFunc(mounts, func(m specs.Mount) bool { return m.Destination == "/sub" && m.Source == "/pods/x/subpaths/c1/1" }) {
		t.Errorf("mounts = %+v", mounts)
	}
}

func TestCgroupView(t *testing.T) {
	tests := []struct {
		name       string
		v2         bool
		privileged bool
		wantNS     bool
	}{
		{"cgroup v1: no cgroup namespace", false, false, false},
		{"cgroup v2: a cgroup namespace of its own", true, false, true},
		{"cgroup v2, privileged: the host's", true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			container := ""
			if tt.privileged {
				container = "securityContext: {privileged: true}"
			}
			pod := basePod(t, container)
			pod.CgroupV2 = tt.v2
			s, err := generate(t, pod, busybox, Policy{AllowPrivileged: true})
			if err != nil {
				t.Fatal(err)
			}
			hasNS := slices.ContainsFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool {
				return ns.Type == specs.CgroupNamespace
			})
			if hasNS != tt.wantNS {
				t.Errorf("cgroup namespace = %v, want %v", hasNS, tt.wantNS)
			}
			// Read-only, but writable for a privileged container, as in Kubernetes.
			mode := "ro"
			if tt.privileged {
				mode = "rw"
			}
			i := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/sys/fs/cgroup" })
			if i < 0 || s.Mounts[i].Type != "cgroup" || !slices.Contains(s.Mounts[i].Options, mode) {
				t.Fatalf("no %s cgroup mount at /sys/fs/cgroup: %+v", mode, s.Mounts)
			}
			if j := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/sys" }); j > i {
				t.Errorf("/sys is mounted after /sys/fs/cgroup and would hide it")
			}
		})
	}
}
