package api

import "strings"

// Defaults Kubernetes applies, applied here the same way.
const (
	DefaultTerminationGracePeriodSeconds = 30
	DefaultProbePeriodSeconds            = 10
	DefaultProbeTimeoutSeconds           = 1
	DefaultProbeSuccessThreshold         = 1
	DefaultProbeFailureThreshold         = 3
)

// SetDefaults fills in every defaulted field of ns in place. It is idempotent,
// and spec hashes are computed after it, so writing a default out explicitly
// never makes a pod look changed.
func SetDefaults(ns *NodeState) {
	for i := range ns.Pods {
		SetPodDefaults(&ns.Pods[i])
	}
	for i := range ns.Services {
		setServiceDefaults(&ns.Services[i])
	}
}

// SetPodDefaults fills in the defaulted fields of one pod.
func SetPodDefaults(p *Pod) {
	p.APIVersion, p.Kind = CoreVersion, KindPod
	s := &p.Spec
	if s.RestartPolicy == "" {
		s.RestartPolicy = RestartAlways
	}
	if s.TerminationGracePeriodSeconds == nil {
		g := int64(DefaultTerminationGracePeriodSeconds)
		s.TerminationGracePeriodSeconds = &g
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = "ClusterFirst"
	}
	for i := range s.InitContainers {
		setContainerDefaults(&s.InitContainers[i])
	}
	for i := range s.Containers {
		setContainerDefaults(&s.Containers[i])
	}
}

func setContainerDefaults(c *Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultPullPolicy(c.Image)
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = ProtocolTCP
		}
	}
	for _, p := range []*Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p != nil {
			setProbeDefaults(p)
		}
	}
}

// defaultPullPolicy is Always for an untagged or :latest image and
// IfNotPresent otherwise, as in Kubernetes.
func defaultPullPolicy(image string) string {
	if strings.Contains(image, "@") {
		return PullIfNotPresent
	}
	last := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(last, ":")
	if !ok || tag == "latest" {
		return PullAlways
	}
	return PullIfNotPresent
}

func setProbeDefaults(p *Probe) {
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = DefaultProbePeriodSeconds
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = DefaultProbeTimeoutSeconds
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = DefaultProbeSuccessThreshold
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = DefaultProbeFailureThreshold
	}
	if h := p.HTTPGet; h != nil {
		if h.Path == "" {
			h.Path = "/"
		}
		if h.Scheme == "" {
			h.Scheme = "HTTP"
		}
	}
}

func setServiceDefaults(svc *Service) {
	svc.APIVersion, svc.Kind = CoreVersion, KindService
	if svc.Spec.Type == "" {
		svc.Spec.Type = ServiceTypeClusterIP
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = ProtocolTCP
		}
		if p.TargetPort.IsZero() {
			p.TargetPort = FromInt(p.Port)
		}
	}
}
