package containerspec

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// ErrForbidden is wrapped when a spec asks for something the node's policy
// does not allow (privileged, a hostPath outside the allowed prefixes): the
// container waits with CreateContainerConfigError, as kubelet says of a
// spec that cannot run as written.
var ErrForbidden = runtimeapi.NewWaitingError("CreateContainerConfigError", "forbidden by node policy")

// Policy is what the node's configuration allows.
type Policy struct {
	AllowPrivileged bool
	// AllowHostNetwork lets pods use the node's network namespace
	// (hostNetwork), where a container with the default NET_RAW sees and
	// forges the node's traffic.
	AllowHostNetwork bool
	// HostPathPrefixes are the host directories hostPath volumes may use;
	// empty means hostPath is off.
	HostPathPrefixes []string
}

// Pod carries what every container of one pod shares.
type Pod struct {
	Spec *api.Pod
	// NetNSPath is the pinned network namespace; empty with hostNetwork.
	NetNSPath string
	// HostsPath and ResolvConfPath are the pod's /etc/hosts and /etc/resolv.conf.
	HostsPath, ResolvConfPath string
	// VolumeDir returns the host directory of an emptyDir volume.
	VolumeDir func(name string) string
	// BindDir is the container's private directory of mount points for
	// the sources bound by a Bind (<pod dir>/subpaths/<container id>): no
	// container can write it.
	BindDir string
	// CgroupParent is the pod's cgroup path ("/outpost/pod<uid>").
	CgroupParent string
	// PidsLimit caps the processes of each container (the pod as a whole
	// is capped by the runtime); 0 or less sets no limit.
	PidsLimit int64
	// CgroupV2 says the host's cgroups are unified (v2): unprivileged
	// containers then get a cgroup namespace of their own, so their cgroup
	// is the root of the /sys/fs/cgroup they see.
	CgroupV2 bool
}

// Cgroup CFS period; the quota is derived from the cpu limit.
const cpuPeriod = 100000

// Options returns the spec options for container c of pod, given the image's
// configuration. The order matters: seccomp's default profile is computed
// from the final capability set, so it comes last.
func Options(pod Pod, c *api.Container, image ocispec.ImageConfig, policy Policy) ([]oci.SpecOpts, error) {
	sc := c.SecurityContext
	if sc == nil {
		sc = &api.SecurityContext{}
	}
	privileged := sc.Privileged != nil && *sc.Privileged
	if pod.Spec.Spec.HostNetwork && !policy.AllowHostNetwork {
		return nil, fmt.Errorf("container %q: hostNetwork: %w (set runtime.allowHostNetwork)", c.Name, ErrForbidden)
	}
	if privileged && !policy.AllowPrivileged {
		return nil, fmt.Errorf("container %q: privileged: %w (set runtime.allowPrivileged)", c.Name, ErrForbidden)
	}
	if !privileged && !policy.AllowPrivileged {
		if err := checkCapabilities(c.Name, sc.Capabilities); err != nil {
			return nil, err
		}
	}
	// Refusals that need no I/O come before Mounts, which may create
	// hostPath directories and files.
	users, err := userOpts(c, sc, image)
	if err != nil {
		return nil, err
	}
	mounts, _, err := Mounts(pod, c, policy)
	if err != nil {
		return nil, err
	}
	opts := []oci.SpecOpts{
		oci.WithProcessArgs(Args(c, image)...),
		oci.WithEnv(Env(c, image, pod.Spec.Metadata.Name)),
		oci.WithMounts(mounts),
	}
	if cwd := workingDir(c, image); cwd != "" {
		opts = append(opts, oci.WithProcessCwd(cwd))
	}
	opts = append(opts, users...)
	opts = append(opts, namespaceOpts(pod)...)
	if pod.CgroupV2 && !privileged {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.CgroupNamespace}))
	}
	if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	opts = append(opts, resourceOpts(c)...)
	if pod.PidsLimit > 0 {
		opts = append(opts, oci.WithPidsLimit(pod.PidsLimit))
	}
	if pod.CgroupParent != "" {
		opts = append(opts, oci.WithCgroup(pod.CgroupParent+"/"+c.Name))
	}
	if privileged {
		return append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices, oci.WithNewPrivileges), nil
	}
	opts = append(opts, capabilityOpts(sc.Capabilities)...)
	if sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation {
		opts = append(opts, oci.WithNewPrivileges)
	} else {
		opts = append(opts, oci.WithNoNewPrivileges)
	}
	return append(opts, seccomp.WithDefaultProfile()), nil
}

// Args follows Kubernetes: command replaces the image's entrypoint and args
// its cmd; args alone keep the entrypoint.
func Args(c *api.Container, image ocispec.ImageConfig) []string {
	switch {
	case len(c.Command) > 0:
		return append(append([]string{}, c.Command...), c.Args...)
	case len(c.Args) > 0:
		return append(append([]string{}, image.Entrypoint...), c.Args...)
	default:
		return append(append([]string{}, image.Entrypoint...), image.Cmd...)
	}
}

// Env is the image's environment overridden by the spec's, plus HOSTNAME.
func Env(c *api.Container, image ocispec.ImageConfig, hostname string) []string {
	env := append([]string{}, image.Env...)
	if !hasEnv(image.Env, "PATH") {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	env = append(env, "HOSTNAME="+hostname)
	for _, e := range c.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	return dedupeEnv(env)
}

func hasEnv(env []string, name string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, name+"=") {
			return true
		}
	}
	return false
}

// dedupeEnv keeps the last value of every name, in first-seen order.
func dedupeEnv(env []string) []string {
	idx := map[string]int{}
	var out []string
	for _, e := range env {
		name, _, _ := strings.Cut(e, "=")
		if i, ok := idx[name]; ok {
			out[i] = e
			continue
		}
		idx[name] = len(out)
		out = append(out, e)
	}
	return out
}

func workingDir(c *api.Container, image ocispec.ImageConfig) string {
	if c.WorkingDir != "" {
		return c.WorkingDir
	}
	return image.WorkingDir
}

func namespaceOpts(pod Pod) []oci.SpecOpts {
	if pod.Spec.Spec.HostNetwork {
		return []oci.SpecOpts{
			oci.WithHostNamespace(specs.NetworkNamespace),
			oci.WithHostNamespace(specs.UTSNamespace),
			oci.WithHostHostsFile,
			oci.WithHostResolvconf,
		}
	}
	return []oci.SpecOpts{
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: pod.NetNSPath}),
		oci.WithHostname(pod.Spec.Metadata.Name),
	}
}

func resourceOpts(c *api.Container) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if q, ok := c.Resources.Limits[api.ResourceMemory]; ok && q.Sign() > 0 {
		// Swap is counted against the same limit: a container cannot page
		// its way past it on a device with swap.
		opts = append(opts, oci.WithMemoryLimit(uint64(q.Value())), oci.WithMemorySwap(q.Value()))
	}
	if q, ok := c.Resources.Limits[api.ResourceCPU]; ok && q.Sign() > 0 {
		quota := max(q.MilliValue()*cpuPeriod/1000, 1000)
		opts = append(opts, oci.WithCPUCFS(quota, cpuPeriod))
	}
	req, ok := c.Resources.Requests[api.ResourceCPU]
	if !ok {
		req, ok = c.Resources.Limits[api.ResourceCPU]
	}
	if ok && req.Sign() > 0 {
		opts = append(opts, oci.WithCPUShares(uint64(max(req.MilliValue()*1024/1000, 2))))
	}
	return opts
}

// safeCapabilities may be added without runtime.allowPrivileged: the
// container default set (containerd's and Docker's), so a container that
// drops ALL can add back what it needs of it. It is Kubernetes' Pod
// Security Standards "baseline" list plus NET_RAW, which the default set
// already grants. Anything else (SYS_ADMIN, SYS_MODULE, NET_ADMIN, ...)
// widens what the container can do to the node's kernel and needs
// runtime.allowPrivileged; see docs/manifests.md.
var safeCapabilities = []string{
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

// checkCapabilities refuses capabilities.add of ALL or of a capability
// outside safeCapabilities; it is not called when the node allows
// privileged containers. Drops are always allowed.
func checkCapabilities(container string, caps *api.Capabilities) error {
	if caps == nil {
		return nil
	}
	var refused []string
	for _, c := range caps.Add {
		if name := api.CapabilityName(c); !slices.Contains(safeCapabilities, name) && !slices.Contains(refused, name) {
			refused = append(refused, name)
		}
	}
	if len(refused) == 0 {
		return nil
	}
	return fmt.Errorf("container %q: securityContext.capabilities.add %s: %w: without runtime.allowPrivileged a container may add only %s",
		container, strings.Join(refused, ", "), ErrForbidden, strings.Join(safeCapabilities, ", "))
}

// capabilityOpts applies add/drop to containerd's default set. "ALL" in drop
// empties the set first; "ALL" in add grants every capability.
func capabilityOpts(caps *api.Capabilities) []oci.SpecOpts {
	if caps == nil {
		return nil
	}
	var opts []oci.SpecOpts
	var add, drop []string
	for _, c := range caps.Drop {
		if api.CapabilityName(c) == "ALL" {
			opts = append(opts, oci.WithCapabilities(nil))
			continue
		}
		drop = append(drop, "CAP_"+api.CapabilityName(c))
	}
	for _, c := range caps.Add {
		if api.CapabilityName(c) == "ALL" {
			opts = append(opts, oci.WithAllCurrentCapabilities)
			continue
		}
		add = append(add, "CAP_"+api.CapabilityName(c))
	}
	if len(drop) > 0 {
		opts = append(opts, oci.WithDroppedCapabilities(drop))
	}
	if len(add) > 0 {
		opts = append(opts, oci.WithAddedCapabilities(add))
	}
	return opts
}

// allowedHostPath reports whether p (clean, absolute, symlinks resolved) is
// one of the prefixes or below one.
func allowedHostPath(p string, prefixes []string) bool {
	for _, pre := range prefixes {
		pre = filepath.Clean(pre)
		if p == pre || strings.HasPrefix(p, pre+"/") || pre == "/" {
			return true
		}
	}
	return false
}
