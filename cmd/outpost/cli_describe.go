package main

import (
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/agent/localapi"
	"github.com/outpost-edge/outpost/api"
)

// runDescribe shows one pod in detail, as kubectl describe does.
func runDescribe(args []string, stdout, stderr io.Writer) error {
	cmd := newLocalCommand("describe", "outpost describe pod NAME", stderr)
	pos, err := cmd.Parse(args, 2, 2)
	if err != nil {
		return err
	}
	if !isPodKind(pos[0]) {
		return cmd.Fail("only pods can be described, not %q", pos[0])
	}
	c, ctx, cancel, err := cmd.connect()
	if err != nil {
		return err
	}
	defer cancel()
	var d localapi.PodDetail
	if err := c.getJSON(ctx, "/v1/pods/"+url.PathEscape(pos[1]), &d); err != nil {
		return err
	}
	return describePod(stdout, d, now())
}

// describer writes "Key:  value" lines at indent levels into a tabwriter,
// as kubectl's describe does.
type describer struct{ w io.Writer }

func (d describer) line(level int, key, format string, args ...any) {
	fmt.Fprintf(d.w, "%s%s:\t%s\n", strings.Repeat("  ", level), key, fmt.Sprintf(format, args...))
}

func (d describer) head(level int, key string) {
	fmt.Fprintf(d.w, "%s%s:\n", strings.Repeat("  ", level), key)
}

const describeTime = time.RFC1123Z

func describeAt(t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return t.Local().Format(describeTime)
}

func describePod(w io.Writer, p localapi.PodDetail, now time.Time) error {
	tw := newTable(w)
	d := describer{tw}
	st := p.Status
	d.line(0, "Name", "%s", p.Name())
	d.line(0, "Source", "%s", p.Source)
	d.line(0, "UID", "%s", orNone(p.UID))
	d.line(0, "Node", "%s", orNone(p.Node))
	if st != nil && st.StartTime != nil {
		d.line(0, "Start Time", "%s", st.StartTime.Local().Format(describeTime))
	} else {
		d.line(0, "Start Time", "<unknown>")
	}
	var pod *api.Pod = p.Pod
	if pod != nil {
		d.line(0, "Labels", "%s", orNone(labelString(pod.Metadata.Labels)))
		d.line(0, "Annotations", "%s", orNone(labelString(pod.Metadata.Annotations)))
		if pod.Spec.Priority != nil {
			d.line(0, "Priority", "%d", *pod.Spec.Priority)
		}
	}
	d.line(0, "Status", "%s", podStatusText(p.PodInfo))
	if st != nil && st.Reason != "" {
		d.line(0, "Reason", "%s", st.Reason)
	}
	if st != nil && st.Message != "" {
		d.line(0, "Message", "%s", st.Message)
	}
	ip := ""
	if st != nil {
		ip = st.PodIP
	}
	d.line(0, "IP", "%s", orNone(ip))
	if pod != nil {
		d.line(0, "Restart Policy", "%s", pod.Spec.RestartPolicy)
		if pod.Spec.HostNetwork {
			d.line(0, "Host Network", "true")
		}
	}
	var initStatuses, statuses []api.ContainerStatus
	if st != nil {
		initStatuses, statuses = st.InitContainerStatuses, st.ContainerStatuses
	}
	var initSpecs, specs []api.Container
	if pod != nil {
		initSpecs, specs = pod.Spec.InitContainers, pod.Spec.Containers
	}
	if len(initSpecs) > 0 || len(initStatuses) > 0 {
		d.head(0, "Init Containers")
		describeContainers(d, initSpecs, initStatuses)
	}
	d.head(0, "Containers")
	describeContainers(d, specs, statuses)
	if st != nil && len(st.Conditions) > 0 {
		d.head(0, "Conditions")
		fmt.Fprintf(tw, "  Type\tStatus\n")
		for _, c := range st.Conditions {
			fmt.Fprintf(tw, "  %s\t%s\n", c.Type, c.Status)
		}
	}
	if pod != nil && len(pod.Spec.Volumes) > 0 {
		d.head(0, "Volumes")
		for _, v := range pod.Spec.Volumes {
			d.head(1, v.Name)
			switch {
			case v.EmptyDir != nil:
				d.line(2, "Type", "EmptyDir (a temporary directory that shares a pod's lifetime)")
				d.line(2, "Medium", "%s", v.EmptyDir.Medium)
				if v.EmptyDir.SizeLimit != nil {
					d.line(2, "SizeLimit", "%s", v.EmptyDir.SizeLimit)
				}
			case v.HostPath != nil:
				d.line(2, "Type", "HostPath (bare host directory volume)")
				d.line(2, "Path", "%s", v.HostPath.Path)
				d.line(2, "HostPathType", "%s", v.HostPath.Type)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return describeEvents(w, p.Events, now)
}

func describeContainers(d describer, specs []api.Container, statuses []api.ContainerStatus) {
	byName := map[string]*api.ContainerStatus{}
	for i := range statuses {
		byName[statuses[i].Name] = &statuses[i]
	}
	names := make([]string, 0, len(specs))
	for _, c := range specs {
		names = append(names, c.Name)
	}
	for _, s := range statuses {
		if !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	for _, name := range names {
		d.head(1, name)
		cs := byName[name]
		var spec *api.Container
		for i := range specs {
			if specs[i].Name == name {
				spec = &specs[i]
			}
		}
		if cs != nil {
			d.line(2, "Container ID", "%s", orNone(cs.ContainerID))
		}
		if spec != nil {
			d.line(2, "Image", "%s", spec.Image)
		}
		if cs != nil && cs.ImageID != "" {
			d.line(2, "Image ID", "%s", cs.ImageID)
		}
		if spec != nil {
			for _, p := range spec.Ports {
				d.line(2, "Port", "%d/%s", p.ContainerPort, p.Protocol)
				if p.HostPort != 0 {
					d.line(2, "Host Port", "%d/%s", p.HostPort, p.Protocol)
				}
			}
			if len(spec.Command) > 0 {
				d.line(2, "Command", "%s", strings.Join(spec.Command, " "))
			}
			if len(spec.Args) > 0 {
				d.line(2, "Args", "%s", strings.Join(spec.Args, " "))
			}
		}
		if cs != nil {
			describeState(d, "State", cs.State)
			if cs.LastState != (api.ContainerState{}) {
				describeState(d, "Last State", cs.LastState)
			}
			d.line(2, "Ready", "%s", titleBool(cs.Ready))
			d.line(2, "Restart Count", "%d", cs.RestartCount)
		} else {
			d.line(2, "State", "Waiting")
			d.line(2, "Ready", "False")
		}
		if spec != nil {
			if len(spec.Resources.Limits) > 0 {
				d.line(2, "Limits", "%s", resourceString(spec.Resources.Limits))
			}
			if len(spec.Resources.Requests) > 0 {
				d.line(2, "Requests", "%s", resourceString(spec.Resources.Requests))
			}
			for _, pr := range []struct {
				name string
				p    *api.Probe
			}{{"Liveness", spec.LivenessProbe}, {"Readiness", spec.ReadinessProbe}, {"Startup", spec.StartupProbe}} {
				if pr.p != nil {
					d.line(2, pr.name, "%s", probeString(pr.p))
				}
			}
			if len(spec.Env) > 0 {
				d.head(2, "Environment")
				for _, e := range spec.Env {
					d.line(3, e.Name, "%s", e.Value)
				}
			}
			if len(spec.VolumeMounts) > 0 {
				d.head(2, "Mounts")
				for _, m := range spec.VolumeMounts {
					mode := "rw"
					if m.ReadOnly {
						mode = "ro"
					}
					fmt.Fprintf(d.w, "      %s from %s (%s)\n", m.MountPath, m.Name, mode)
				}
			}
		}
	}
}

func describeState(d describer, key string, s api.ContainerState) {
	switch {
	case s.Running != nil:
		d.line(2, key, "Running")
		d.line(3, "Started", "%s", describeAt(s.Running.StartedAt))
	case s.Terminated != nil:
		t := s.Terminated
		d.line(2, key, "Terminated")
		d.line(3, "Reason", "%s", t.Reason)
		if t.Message != "" {
			d.line(3, "Message", "%s", t.Message)
		}
		d.line(3, "Exit Code", "%d", t.ExitCode)
		if t.Signal != 0 {
			d.line(3, "Signal", "%d", t.Signal)
		}
		d.line(3, "Started", "%s", describeAt(t.StartedAt))
		d.line(3, "Finished", "%s", describeAt(t.FinishedAt))
	case s.Waiting != nil:
		d.line(2, key, "Waiting")
		d.line(3, "Reason", "%s", s.Waiting.Reason)
		if s.Waiting.Message != "" {
			d.line(3, "Message", "%s", s.Waiting.Message)
		}
	default:
		d.line(2, key, "Waiting")
	}
}

func titleBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func resourceString(rl api.ResourceList) string {
	keys := make([]string, 0, len(rl))
	for k := range rl {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		q := rl[k]
		keys[i] = k + "=" + q.String()
	}
	return strings.Join(keys, ", ")
}

// probeString is kubectl's one-line probe: "http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3".
func probeString(p *api.Probe) string {
	var h string
	switch {
	case p.Exec != nil:
		h = "exec [" + strings.Join(p.Exec.Command, " ") + "]"
	case p.HTTPGet != nil:
		scheme := strings.ToLower(p.HTTPGet.Scheme)
		if scheme == "" {
			scheme = "http"
		}
		h = fmt.Sprintf("http-get %s://%s:%s%s", scheme, p.HTTPGet.Host, p.HTTPGet.Port.String(), p.HTTPGet.Path)
	case p.TCPSocket != nil:
		h = fmt.Sprintf("tcp-socket %s:%s", p.TCPSocket.Host, p.TCPSocket.Port.String())
	}
	return fmt.Sprintf("%s delay=%ds timeout=%ds period=%ds #success=%d #failure=%d",
		h, p.InitialDelaySeconds, p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold)
}

func describeEvents(w io.Writer, evs []api.Event, now time.Time) error {
	if len(evs) == 0 {
		_, err := fmt.Fprintln(w, "Events:  <none>")
		return err
	}
	fmt.Fprintln(w, "Events:")
	tw := newTable(w)
	fmt.Fprintln(tw, "  Type\tReason\tAge\tMessage")
	fmt.Fprintln(tw, "  ----\t------\t----\t-------")
	for _, e := range evs {
		age := humanDuration(now.Sub(e.Time))
		if e.Count > 1 {
			age += fmt.Sprintf(" (x%d)", e.Count)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.Type, e.Reason, age, e.Message)
	}
	return tw.Flush()
}
