package api

import (
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// validator collects every problem of a document with its path.
type validator struct {
	errs ErrorList
	// hostPorts and nodePorts are node-wide: "TCP/8080" -> the path that took it.
	hostPorts, nodePorts map[string]string
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// check adds msg at path when msg is not empty (for the check* helpers).
func (v *validator) check(path, msg string) {
	if msg != "" {
		v.errs = append(v.errs, &FieldError{Path: path, Msg: msg})
	}
}

// Validate checks a defaulted NodeState and returns every problem at once.
// requireGeneration is set for documents from a control plane, which must
// carry a generation > 0; a static manifest gets its generation from the node.
func Validate(ns *NodeState, requireGeneration bool) ErrorList {
	v := &validator{hostPorts: map[string]string{}, nodePorts: map[string]string{}}
	if ns == nil {
		v.add("", "document is empty")
		return v.errs
	}
	if requireGeneration && ns.Generation <= 0 {
		v.add("generation", "must be greater than 0")
	}
	if ns.Generation < 0 {
		v.add("generation", "must not be negative")
	}
	if ns.Generation > MaxGeneration {
		v.add("generation", "must be at most %d (2^53-1)", int64(MaxGeneration))
	}
	if ns.ResetFrom < 0 {
		v.add("resetFrom", "must not be negative")
	}
	if len(ns.Pods) > MaxPods {
		v.add("pods", "has %d pods, at most %d are allowed", len(ns.Pods), MaxPods)
	}
	if len(ns.Services) > MaxServices {
		v.add("services", "has %d services, at most %d are allowed", len(ns.Services), MaxServices)
	}
	seen := map[string]bool{}
	for i := range ns.Pods {
		p := &ns.Pods[i]
		pp := "pods[" + nameOr(p.Metadata.Name, i) + "]"
		if p.Metadata.Name != "" && seen[p.Metadata.Name] {
			v.add(pp+".metadata.name", "duplicate pod name %q", p.Metadata.Name)
		}
		seen[p.Metadata.Name] = true
		v.pod(pp, p)
	}
	seen = map[string]bool{}
	for i := range ns.Services {
		s := &ns.Services[i]
		sp := "services[" + nameOr(s.Metadata.Name, i) + "]"
		if s.Metadata.Name != "" && seen[s.Metadata.Name] {
			v.add(sp+".metadata.name", "duplicate service name %q", s.Metadata.Name)
		}
		seen[s.Metadata.Name] = true
		v.service(sp, s)
	}
	return v.errs
}

func nameOr(name string, i int) string {
	if name == "" || len(name) > 253 {
		return strconv.Itoa(i)
	}
	return name
}

func (v *validator) typeMeta(p string, tm TypeMeta, kind string) {
	if tm.APIVersion != "" && tm.APIVersion != CoreVersion {
		v.add(p+".apiVersion", "must be %s", CoreVersion)
	}
	if tm.Kind != "" && tm.Kind != kind {
		v.add(p+".kind", "must be %s", kind)
	}
}

func (v *validator) meta(p string, m *ObjectMeta, nameCheck func(string) string) {
	v.check(p+".name", nameCheck(m.Name))
	if m.Namespace != "" {
		v.check(p+".namespace", checkDNS1123Label(m.Namespace))
	}
	for k, val := range m.Labels {
		v.check(p+".labels."+k, checkLabelKey(k))
		v.check(p+".labels."+k, checkLabelValue(val))
	}
	size := 0
	for k, val := range m.Annotations {
		v.check(p+".annotations."+k, checkLabelKey(k))
		size += len(k) + len(val)
	}
	if size > MaxAnnotationBytes {
		v.add(p+".annotations", "total size %d bytes is more than %d", size, MaxAnnotationBytes)
	}
}

func (v *validator) pod(p string, pod *Pod) {
	v.typeMeta(p, pod.TypeMeta, KindPod)
	v.meta(p+".metadata", &pod.Metadata, checkDNS1123Label)
	s := &pod.Spec
	sp := p + ".spec"
	if len(s.Containers) == 0 {
		v.add(sp+".containers", "required: at least one container")
	}
	if n := len(s.Containers) + len(s.InitContainers); n > MaxContainers {
		v.add(sp+".containers", "pod has %d containers, at most %d are allowed", n, MaxContainers)
	}
	switch s.RestartPolicy {
	case RestartAlways, RestartOnFailure, RestartNever:
	default:
		v.add(sp+".restartPolicy", "must be Always, OnFailure or Never, not %q", s.RestartPolicy)
	}
	switch s.DNSPolicy {
	case "ClusterFirst", "Default", "ClusterFirstWithHostNet":
	default:
		v.add(sp+".dnsPolicy", "must be ClusterFirst, ClusterFirstWithHostNet or Default, not %q", s.DNSPolicy)
	}
	if g := s.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		v.add(sp+".terminationGracePeriodSeconds", "must not be negative")
	}
	vols := v.volumes(sp+".volumes", s.Volumes)
	names := map[string]bool{}
	for i := range s.InitContainers {
		cp := fmt.Sprintf("%s.initContainers[%d]", sp, i)
		v.container(cp, &s.InitContainers[i], s, vols, names)
		c := &s.InitContainers[i]
		if c.LivenessProbe != nil || c.ReadinessProbe != nil || c.StartupProbe != nil {
			v.add(cp, "init containers run to completion and cannot have probes")
		}
	}
	for i := range s.Containers {
		v.container(fmt.Sprintf("%s.containers[%d]", sp, i), &s.Containers[i], s, vols, names)
	}
}

func (v *validator) volumes(p string, vols []Volume) map[string]bool {
	names := map[string]bool{}
	if len(vols) > MaxVolumes {
		v.add(p, "has %d volumes, at most %d are allowed", len(vols), MaxVolumes)
	}
	for i := range vols {
		vol := &vols[i]
		vp := fmt.Sprintf("%s[%d]", p, i)
		v.check(vp+".name", checkDNS1123Label(vol.Name))
		if names[vol.Name] {
			v.add(vp+".name", "duplicate volume name %q", vol.Name)
		}
		names[vol.Name] = true
		switch {
		case vol.EmptyDir != nil && vol.HostPath != nil:
			v.add(vp, "must have exactly one of emptyDir, hostPath")
		case vol.EmptyDir != nil:
			if m := vol.EmptyDir.Medium; m != "" && m != "Memory" {
				v.add(vp+".emptyDir.medium", `must be "" or "Memory", not %q`, m)
			}
			if l := vol.EmptyDir.SizeLimit; l != nil && l.Sign() < 0 {
				v.add(vp+".emptyDir.sizeLimit", "must not be negative")
			} else if l != nil && vol.EmptyDir.Medium != "Memory" {
				// It sizes a memory emptyDir's tmpfs; on disk nothing would hold a pod to it.
				v.add(vp+".emptyDir.sizeLimit", `is enforced only with medium: "Memory" (the tmpfs size); a disk emptyDir is counted in the pod's ephemeral-storage instead`)
			}
		case vol.HostPath != nil:
			hp := vol.HostPath.Path
			switch {
			case hp == "":
				v.add(vp+".hostPath.path", "required")
			case !path.IsAbs(hp):
				v.add(vp+".hostPath.path", "must be an absolute path, not %q", hp)
			case path.Clean(hp) != hp:
				v.add(vp+".hostPath.path", "must be a clean path (%q, not %q)", path.Clean(hp), hp)
			}
			if !hostPathTypes[vol.HostPath.Type] {
				v.add(vp+".hostPath.type", "%q is not a hostPath type", vol.HostPath.Type)
			}
		default:
			v.add(vp, "must have exactly one of emptyDir, hostPath")
		}
	}
	return names
}

func (v *validator) container(p string, c *Container, spec *PodSpec, vols, names map[string]bool) {
	v.check(p+".name", checkDNS1123Label(c.Name))
	if c.Name != "" && names[c.Name] {
		v.add(p+".name", "duplicate container name %q", c.Name)
	}
	names[c.Name] = true
	if strings.TrimSpace(c.Image) == "" {
		v.add(p+".image", "required")
	} else if strings.ContainsAny(c.Image, " \t\n") {
		v.add(p+".image", "must not contain whitespace")
	}
	switch c.ImagePullPolicy {
	case PullAlways, PullIfNotPresent, PullNever:
	default:
		v.add(p+".imagePullPolicy", "must be Always, IfNotPresent or Never, not %q", c.ImagePullPolicy)
	}
	if c.WorkingDir != "" && !path.IsAbs(c.WorkingDir) {
		v.add(p+".workingDir", "must be an absolute path")
	}
	if len(c.Env) > MaxEnv {
		v.add(p+".env", "has %d entries, at most %d are allowed", len(c.Env), MaxEnv)
	}
	for i, e := range c.Env {
		v.check(fmt.Sprintf("%s.env[%d].name", p, i), checkEnvName(e.Name))
	}
	portNames := v.ports(p+".ports", c.Ports, spec.HostNetwork)
	v.resources(p+".resources", &c.Resources)
	mounts := map[string]bool{}
	for i, m := range c.VolumeMounts {
		mp := fmt.Sprintf("%s.volumeMounts[%d]", p, i)
		if !vols[m.Name] {
			v.add(mp+".name", "no volume named %q in spec.volumes", m.Name)
		}
		switch {
		case !path.IsAbs(m.MountPath):
			v.add(mp+".mountPath", "must be an absolute path, not %q", m.MountPath)
		case mounts[path.Clean(m.MountPath)]:
			v.add(mp+".mountPath", "%q is mounted twice", m.MountPath)
		}
		mounts[path.Clean(m.MountPath)] = true
		if m.SubPath != "" && (path.IsAbs(m.SubPath) || strings.HasPrefix(path.Clean(m.SubPath), "..")) {
			v.add(mp+".subPath", "must be a relative path inside the volume")
		}
	}
	v.probe(p+".livenessProbe", c.LivenessProbe, portNames, true)
	v.probe(p+".readinessProbe", c.ReadinessProbe, portNames, false)
	v.probe(p+".startupProbe", c.StartupProbe, portNames, true)
	v.securityContext(p+".securityContext", c.SecurityContext)
}

func (v *validator) ports(p string, ports []ContainerPort, hostNetwork bool) map[string]bool {
	names := map[string]bool{}
	if len(ports) > MaxPorts {
		v.add(p, "has %d ports, at most %d are allowed", len(ports), MaxPorts)
	}
	for i, port := range ports {
		pp := fmt.Sprintf("%s[%d]", p, i)
		if port.Name != "" {
			v.check(pp+".name", checkPortName(port.Name))
			if names[port.Name] {
				v.add(pp+".name", "duplicate port name %q", port.Name)
			}
			names[port.Name] = true
		}
		if port.ContainerPort < 1 || port.ContainerPort > 65535 {
			v.add(pp+".containerPort", "must be between 1 and 65535, not %d", port.ContainerPort)
		}
		if port.HostPort < 0 || port.HostPort > 65535 {
			v.add(pp+".hostPort", "must be between 1 and 65535, not %d", port.HostPort)
		}
		if hostNetwork && port.HostPort != 0 && port.HostPort != port.ContainerPort {
			v.add(pp+".hostPort", "must equal containerPort with hostNetwork")
		}
		v.protocol(pp+".protocol", port.Protocol)
		if port.HostIP != "" && !isIP(port.HostIP) {
			v.add(pp+".hostIP", "%q is not an IP address", port.HostIP)
		} else if port.HostIP != "" && !netip.MustParseAddr(port.HostIP).Unmap().Is4() {
			v.add(pp+".hostIP", "%s: host ports are IPv4 only on this node", port.HostIP)
		}
		if port.HostPort > 0 {
			key := fmt.Sprintf("%s/%d", port.Protocol, port.HostPort)
			if other, dup := v.hostPorts[key]; dup {
				v.add(pp+".hostPort", "%s is already used by %s", key, other)
			} else {
				v.hostPorts[key] = pp
			}
		}
	}
	return names
}

func (v *validator) protocol(p, proto string) {
	if proto != ProtocolTCP && proto != ProtocolUDP {
		v.add(p, "must be TCP or UDP, not %q", proto)
	}
}

func (v *validator) resources(p string, r *Resources) {
	for _, l := range []struct {
		name string
		list ResourceList
	}{{"limits", r.Limits}, {"requests", r.Requests}} {
		for k, q := range l.list {
			qp := p + "." + l.name + "." + k
			switch {
			case k == ResourceCPU, k == ResourceMemory:
			case k == ResourceEphemeralStorage && l.name == "requests":
			case k == ResourceEphemeralStorage:
				// Kubelet evicts a pod whose container writes past its
				// limit; this node does not, and a limit accepted but not
				// kept would be worse than none.
				v.add(qp, "not supported: an ephemeral-storage limit is not enforced by this node; use requests.ephemeral-storage (admission and disk-pressure eviction go by it)")
				continue
			case l.name == "requests":
				v.add(qp, "not supported: only cpu, memory and ephemeral-storage")
				continue
			default:
				v.add(qp, "not supported: only cpu and memory")
				continue
			}
			if q.Sign() < 0 {
				v.add(qp, "must not be negative")
			}
		}
	}
	for k, req := range r.Requests {
		if lim, ok := r.Limits[k]; ok && req.Cmp(lim) > 0 {
			v.add(p+".requests."+k, "%s is more than the limit %s", req, lim)
		}
	}
}

func (v *validator) probe(p string, pr *Probe, portNames map[string]bool, mustSucceedOnce bool) {
	if pr == nil {
		return
	}
	handlers := 0
	if pr.Exec != nil {
		handlers++
		if len(pr.Exec.Command) == 0 {
			v.add(p+".exec.command", "required")
		}
	}
	if pr.HTTPGet != nil {
		handlers++
		v.probePort(p+".httpGet.port", pr.HTTPGet.Port, portNames)
		if s := pr.HTTPGet.Scheme; s != "HTTP" && s != "HTTPS" {
			v.add(p+".httpGet.scheme", "must be HTTP or HTTPS, not %q", s)
		}
		if !strings.HasPrefix(pr.HTTPGet.Path, "/") {
			v.add(p+".httpGet.path", "must start with /")
		}
	}
	if pr.TCPSocket != nil {
		handlers++
		v.probePort(p+".tcpSocket.port", pr.TCPSocket.Port, portNames)
	}
	if handlers != 1 {
		v.add(p, "must have exactly one of exec, httpGet, tcpSocket")
	}
	for _, f := range []struct {
		name string
		val  int32
		min  int32
	}{
		{"initialDelaySeconds", pr.InitialDelaySeconds, 0},
		{"periodSeconds", pr.PeriodSeconds, 1},
		{"timeoutSeconds", pr.TimeoutSeconds, 1},
		{"successThreshold", pr.SuccessThreshold, 1},
		{"failureThreshold", pr.FailureThreshold, 1},
	} {
		if f.val < f.min {
			v.add(p+"."+f.name, "must be at least %d", f.min)
		}
	}
	if mustSucceedOnce && pr.SuccessThreshold != 1 {
		v.add(p+".successThreshold", "must be 1 for liveness and startup probes")
	}
}

func (v *validator) probePort(p string, port IntOrString, portNames map[string]bool) {
	if port.IsString {
		if !portNames[port.StrVal] {
			v.add(p, "no container port named %q", port.StrVal)
		}
		return
	}
	if port.IntVal < 1 || port.IntVal > 65535 {
		v.add(p, "must be between 1 and 65535, not %d", port.IntVal)
	}
}

func (v *validator) securityContext(p string, sc *SecurityContext) {
	if sc == nil {
		return
	}
	if sc.RunAsUser != nil && (*sc.RunAsUser < 0 || *sc.RunAsUser > 1<<31-1) {
		v.add(p+".runAsUser", "must be between 0 and 2147483647")
	}
	if sc.RunAsGroup != nil && (*sc.RunAsGroup < 0 || *sc.RunAsGroup > 1<<31-1) {
		v.add(p+".runAsGroup", "must be between 0 and 2147483647")
	}
	if sc.RunAsNonRoot != nil && *sc.RunAsNonRoot && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		v.add(p+".runAsUser", "is 0 while runAsNonRoot is true")
	}
	if sc.Privileged != nil && *sc.Privileged && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		v.add(p+".allowPrivilegeEscalation", "cannot be false for a privileged container")
	}
	if c := sc.Capabilities; c != nil {
		for i, name := range c.Add {
			if !capabilities[CapabilityName(name)] {
				v.add(fmt.Sprintf("%s.capabilities.add[%d]", p, i), "%q is not a Linux capability", name)
			}
		}
		for i, name := range c.Drop {
			if !capabilities[CapabilityName(name)] {
				v.add(fmt.Sprintf("%s.capabilities.drop[%d]", p, i), "%q is not a Linux capability", name)
			}
		}
	}
}
