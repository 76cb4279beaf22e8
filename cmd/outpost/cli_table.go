package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/outpost-edge/outpost/agent/localapi"
	"github.com/outpost-edge/outpost/api"
)

// Tables look like kubectl's: upper-case headers, columns three spaces apart.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 8, 3, ' ', 0) }

func row(w io.Writer, cells ...string) { fmt.Fprintln(w, strings.Join(cells, "\t")) }

func printPods(w io.Writer, l localapi.PodList, wide bool, now time.Time) error {
	tw := newTable(w)
	head := []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}
	if wide {
		head = append(head, "IP", "NODE", "SOURCE")
	}
	row(tw, head...)
	for _, p := range l.Items {
		cells := []string{p.Name(), podReady(p), podStatusText(p), podRestarts(p, now), podAge(p, now)}
		if wide {
			ip := "<none>"
			if p.Status != nil && p.Status.PodIP != "" {
				ip = p.Status.PodIP
			}
			cells = append(cells, ip, orNone(l.Node), p.Source)
		}
		row(tw, cells...)
	}
	return tw.Flush()
}

func podReady(p localapi.PodInfo) string {
	total := 0
	if p.Pod != nil {
		total = len(p.Pod.Spec.Containers)
	} else if p.Status != nil {
		total = len(p.Status.ContainerStatuses)
	}
	ready := 0
	if p.Status != nil {
		for _, c := range p.Status.ContainerStatuses {
			if c.Ready {
				ready++
			}
		}
	}
	return fmt.Sprintf("%d/%d", ready, total)
}

// podStatusText is kubectl's STATUS column (api.PodStatus.DisplayReason).
func podStatusText(p localapi.PodInfo) string {
	if p.Pod == nil {
		return "Terminating"
	}
	if p.Status == nil {
		return api.PodPending
	}
	return p.Status.DisplayReason()
}

// podRestarts is "3" or, with a known last restart, "3 (5m ago)".
func podRestarts(p localapi.PodInfo, now time.Time) string {
	if p.Status == nil {
		return "0"
	}
	var n int32
	var last time.Time
	for _, c := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		n += c.RestartCount
		if t := c.LastState.Terminated; t != nil && t.FinishedAt.After(last) {
			last = t.FinishedAt
		}
	}
	if n > 0 && !last.IsZero() {
		return fmt.Sprintf("%d (%s ago)", n, humanDuration(now.Sub(last)))
	}
	return strconv.Itoa(int(n))
}

func podAge(p localapi.PodInfo, now time.Time) string {
	if p.Status == nil || p.Status.StartTime == nil {
		return "<unknown>"
	}
	return humanDuration(now.Sub(*p.Status.StartTime))
}

func printServices(w io.Writer, l localapi.ServiceList, wide bool) error {
	tw := newTable(w)
	head := []string{"NAME", "TYPE", "CLUSTER-IP", "PORT(S)", "AGE"}
	if wide {
		head = append(head, "ENDPOINTS", "SELECTOR", "SOURCE")
	}
	row(tw, head...)
	for _, s := range l.Items {
		spec := s.Service.Spec
		typ := spec.Type
		if typ == "" {
			typ = api.ServiceTypeClusterIP
		}
		ports := make([]string, len(spec.Ports))
		for i, p := range spec.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = api.ProtocolTCP
			}
			if p.NodePort != 0 {
				ports[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, proto)
			} else {
				ports[i] = fmt.Sprintf("%d/%s", p.Port, proto)
			}
		}
		// Services carry no creation time on a node.
		cells := []string{s.Service.Metadata.Name, typ, orNone(spec.ClusterIP), orNone(strings.Join(ports, ",")), "<unknown>"}
		if wide {
			eps := "<unknown>"
			if e := s.Endpoints; e != nil {
				eps = fmt.Sprintf("%d/%d ready", e.Ready, e.Total)
			}
			cells = append(cells, eps, orNone(labelString(spec.Selector)), s.Source)
		}
		row(tw, cells...)
	}
	return tw.Flush()
}

func printNodes(w io.Writer, n localapi.NodeView, wide bool, now time.Time) error {
	tw := newTable(w)
	head := []string{"NAME", "STATUS", "AGE", "VERSION"}
	if wide {
		head = append(head, "INTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME")
	}
	row(tw, head...)
	version, ip, osImage, kernel, ctrd := "<unknown>", "<none>", "<unknown>", "<unknown>", "<unknown>"
	if s := n.Status; s != nil {
		info := s.NodeInfo
		version, osImage, kernel = orUnknown(info.AgentVersion), orUnknown(info.OSImage), orUnknown(info.KernelVersion)
		if info.ContainerdVersion != "" {
			ctrd = "containerd://" + info.ContainerdVersion
		}
		for _, a := range s.Addresses {
			if a.Type == "InternalIP" {
				ip = a.Address
				break
			}
		}
	}
	// AGE is the agent's uptime: a node has no registration time of its own.
	cells := []string{n.Name, nodeStatusText(n), humanDuration(now.Sub(n.AgentStarted)), version}
	if wide {
		cells = append(cells, ip, osImage, kernel, ctrd)
	}
	row(tw, cells...)
	return tw.Flush()
}

// nodeStatusText is Ready, NotReady or Unknown, plus the pressures.
func nodeStatusText(n localapi.NodeView) string {
	if n.Status == nil {
		return api.ConditionUnknown
	}
	status := api.ConditionUnknown
	var extra []string
	for _, c := range n.Status.Conditions {
		switch {
		case c.Type == api.NodeReady && c.Status == api.ConditionTrue:
			status = "Ready"
		case c.Type == api.NodeReady && c.Status == api.ConditionFalse:
			status = "NotReady"
		case c.Type != api.NodeReady && c.Status == api.ConditionTrue:
			extra = append(extra, c.Type)
		}
	}
	return strings.Join(append([]string{status}, extra...), ",")
}

func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, ",")
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

// humanDuration is kubectl's short age: 45s, 3m20s, 2h10m, 5d, 2y30d.
func humanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < -1:
		return "<invalid>"
	case s < 0:
		return "0s"
	case s < 2*60:
		return fmt.Sprintf("%ds", s)
	}
	minutes := int(d / time.Minute)
	switch {
	case minutes < 10:
		if s := int(d/time.Second) % 60; s != 0 {
			return fmt.Sprintf("%dm%ds", minutes, s)
		}
		return fmt.Sprintf("%dm", minutes)
	case minutes < 3*60:
		return fmt.Sprintf("%dm", minutes)
	}
	hours := int(d / time.Hour)
	switch {
	case hours < 8:
		if m := minutes % 60; m != 0 {
			return fmt.Sprintf("%dh%dm", hours, m)
		}
		return fmt.Sprintf("%dh", hours)
	case hours < 48:
		return fmt.Sprintf("%dh", hours)
	case hours < 24*8:
		if h := hours % 24; h != 0 {
			return fmt.Sprintf("%dd%dh", hours/24, h)
		}
		return fmt.Sprintf("%dd", hours/24)
	case hours < 24*365*2:
		return fmt.Sprintf("%dd", hours/24)
	case hours < 24*365*8:
		if dy := (hours / 24) % 365; dy != 0 {
			return fmt.Sprintf("%dy%dd", hours/24/365, dy)
		}
		return fmt.Sprintf("%dy", hours/24/365)
	}
	return fmt.Sprintf("%dy", hours/24/365)
}
