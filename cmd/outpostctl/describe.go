package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/cmd/outpostctl/fleet"
)

// describeNode is `describe node N`: everything the broker retains about
// the node, in sections.
func describeNode(w io.Writer, f *fleet.Fleet, name string, now time.Time) error {
	v := f.Nodes[name]
	kv := func(k, val string) { fmt.Fprintf(w, "%-15s %s\n", k+":", val) }
	kv("Name", name)
	online := onlineText(v.Online)
	if o := v.Online; o != nil {
		switch {
		case o.Online && o.Time != nil:
			online += ", connected " + timeText(*o.Time, now)
		case !o.Online && o.Reason != "":
			online += ", " + o.Reason
		case !o.Online && o.Time == nil:
			online += ", link lost (the broker published its last will)"
		}
	}
	kv("Online", online)
	if msg := conflictText(v.Online); msg != "" {
		kv("Name conflict", msg)
	}
	kv("Agent version", orNone(v.AgentVersion()))
	kv("Last seen", timeText(v.LastSeen(), now))
	if v.Report != nil {
		kv("Report", v.Report.Hash+" at "+timeText(v.Report.Time, now))
	} else {
		kv("Report", "<none>")
	}

	fmt.Fprintln(w, "Sources:")
	tw := newTable(w)
	row(tw, "  SOURCE", "DESIRED", "OBSERVED", "")
	desired := f.Desired(name)
	observed := map[string]int64{}
	if v.Report != nil {
		observed = v.Report.ObservedGenerations
	}
	all := maps.Clone(observed)
	maps.Copy(all, desired)
	srcs := slices.Sorted(maps.Keys(all))
	for _, src := range srcs {
		d, hasD := desired[src]
		o, hasO := observed[src]
		note := ""
		switch {
		case hasD && (!hasO || o < d):
			note = "pending"
		case !hasD && strings.HasPrefix(src, "remote:"):
			note = "no document retained"
		}
		row(tw, "  "+src, genText(d, hasD), genText(o, hasO), note)
	}
	if len(srcs) == 0 {
		row(tw, "  <none>")
	}
	tw.Flush()
	if v.Doc.Err != nil {
		kv("Node document", "does not decode: "+v.Doc.Err.Error())
	}

	if r := v.Report; r != nil && r.NodeStatus != nil {
		describeNodeStatus(w, r.NodeStatus, now)
	}
	if v.Report != nil {
		fmt.Fprintln(w, "Pods:")
		if len(v.Report.Pods) == 0 {
			fmt.Fprintln(w, "  <none>")
		} else {
			var b strings.Builder
			_ = printPods(&b, v.Report.Pods, now)
			fmt.Fprint(w, indent(b.String()))
		}
		fmt.Fprintln(w, "Services:")
		if len(v.Report.Services) == 0 {
			fmt.Fprintln(w, "  <none>")
		}
		tw = newTable(w)
		if len(v.Report.Services) > 0 {
			row(tw, "  NAME", "SOURCE", "CLUSTER-IP")
		}
		for _, s := range v.Report.Services {
			row(tw, "  "+s.Name, shortSource(s.Source), orNone(s.ClusterIP))
		}
		tw.Flush()
		if len(v.Report.Conflicts) > 0 {
			fmt.Fprintln(w, "Conflicts:")
			tw = newTable(w)
			row(tw, "  KIND", "NAME", "WINNER", "LOSER (not run)")
			for _, c := range v.Report.Conflicts {
				row(tw, "  "+c.Kind, c.Name, c.Winner, c.Loser)
			}
			tw.Flush()
		}
	}
	return nil
}

func describeNodeStatus(w io.Writer, ns *api.NodeStatus, now time.Time) {
	fmt.Fprintln(w, "Node status:    measured "+timeText(ns.Time, now))
	i := ns.NodeInfo
	fmt.Fprintf(w, "  System:       %s/%s, kernel %s, containerd %s\n", orNone(i.OperatingSystem), orNone(i.Architecture),
		orNone(i.KernelVersion), orNone(i.ContainerdVersion))
	if i.InstanceID != "" {
		fmt.Fprintf(w, "  Identity:     instance %s, public key %s\n", i.InstanceID, orNone(i.PublicKey))
	}
	fmt.Fprintf(w, "  Capacity:     %s\n", resources(ns.Capacity))
	fmt.Fprintf(w, "  Allocatable:  %s\n", resources(ns.Allocatable))
	tw := newTable(w)
	row(tw, "  CONDITION", "STATUS", "SINCE", "REASON")
	for _, c := range ns.Conditions {
		row(tw, "  "+c.Type, c.Status, timeText(c.LastTransitionTime, now), c.Reason)
	}
	tw.Flush()
}

func resources(l api.ResourceList) string {
	if len(l) == 0 {
		return "<none>"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		q := l[k]
		parts = append(parts, k+"="+q.String())
	}
	return strings.Join(parts, ", ")
}

func genText(g int64, ok bool) string {
	if !ok {
		return "-"
	}
	return strconv.FormatInt(g, 10)
}

// timeText is "2027-01-15T08:00:00Z (5m ago)".
func timeText(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return t.UTC().Format(time.RFC3339) + " (" + humanDuration(now.Sub(t)) + " ago)"
}

func indent(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "")
}
