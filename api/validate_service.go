package api

import (
	"fmt"
	"net/netip"
)

// Default NodePort range, as Kubernetes'.
const (
	NodePortMin = 30000
	NodePortMax = 32767
)

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

func (v *validator) service(p string, s *Service) {
	v.typeMeta(p, s.TypeMeta, KindService)
	v.meta(p+".metadata", &s.Metadata, checkDNS1035Label)
	sp := p + ".spec"
	switch s.Spec.Type {
	case ServiceTypeClusterIP, ServiceTypeNodePort:
	default:
		v.add(sp+".type", "must be ClusterIP or NodePort, not %q", s.Spec.Type)
	}
	switch ip := s.Spec.ClusterIP; {
	case ip == "":
	case ip == "None":
		v.add(sp+".clusterIP", "headless services are not supported")
	case !isIP(ip):
		v.add(sp+".clusterIP", "%q is not an IP address", ip)
	}
	for k, val := range s.Spec.Selector {
		v.check(sp+".selector."+k, checkLabelKey(k))
		v.check(sp+".selector."+k, checkLabelValue(val))
	}
	if len(s.Spec.Ports) == 0 {
		v.add(sp+".ports", "required: at least one port")
	}
	if len(s.Spec.Ports) > MaxPorts {
		v.add(sp+".ports", "has %d ports, at most %d are allowed", len(s.Spec.Ports), MaxPorts)
	}
	names := map[string]bool{}
	seen := map[string]bool{}
	for i, port := range s.Spec.Ports {
		pp := fmt.Sprintf("%s.ports[%d]", sp, i)
		switch {
		case port.Name == "" && len(s.Spec.Ports) > 1:
			v.add(pp+".name", "required when a service has more than one port")
		case port.Name != "":
			v.check(pp+".name", checkDNS1123Label(port.Name))
			if names[port.Name] {
				v.add(pp+".name", "duplicate port name %q", port.Name)
			}
			names[port.Name] = true
		}
		if port.Port < 1 || port.Port > 65535 {
			v.add(pp+".port", "must be between 1 and 65535, not %d", port.Port)
		}
		v.protocol(pp+".protocol", port.Protocol)
		key := fmt.Sprintf("%s/%d", port.Protocol, port.Port)
		if seen[key] {
			v.add(pp+".port", "%s is listed twice", key)
		}
		seen[key] = true
		if port.TargetPort.IsString {
			v.check(pp+".targetPort", checkPortName(port.TargetPort.StrVal))
		} else if port.TargetPort.IntVal < 1 || port.TargetPort.IntVal > 65535 {
			v.add(pp+".targetPort", "must be between 1 and 65535, not %d", port.TargetPort.IntVal)
		}
		if port.NodePort == 0 && s.Spec.Type == ServiceTypeNodePort {
			v.add(pp+".nodePort", "required when type is NodePort: this node does not allocate node ports")
		}
		if port.NodePort != 0 {
			key := fmt.Sprintf("%s/%d", port.Protocol, port.NodePort)
			if s.Spec.Type != ServiceTypeNodePort {
				v.add(pp+".nodePort", "may only be set when type is NodePort")
			} else if port.NodePort < NodePortMin || port.NodePort > NodePortMax {
				v.add(pp+".nodePort", "must be between %d and %d, not %d", NodePortMin, NodePortMax, port.NodePort)
			} else if other, dup := v.nodePorts[key]; dup {
				v.add(pp+".nodePort", "%s is already used by %s", key, other)
			} else if other, dup := v.hostPorts[key]; dup {
				// Pods are checked first: every hostPort of the document is known.
				v.add(pp+".nodePort", "%s is already the hostPort of %s", key, other)
			} else {
				v.nodePorts[key] = pp
			}
		}
	}
}
