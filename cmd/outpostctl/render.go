package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/cmd/outpostctl/fleet"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// Tables look like kubectl's: upper-case headers, columns three spaces apart.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 8, 3, ' ', 0) }

func row(w io.Writer, cells ...string) { fmt.Fprintln(w, strings.Join(cells, "\t")) }

// printNodes is `get nodes`. DESIRED and OBSERVED list the remote sources
// by short name ("node" for the node's own document, the group's name for
// a group's); an observed generation below the desired one is starred.
func printNodes(w io.Writer, f *fleet.Fleet, now time.Time) error {
	tw := newTable(w)
	row(tw, "NAME", "ONLINE", "DESIRED", "OBSERVED", "PODS", "LAST-SEEN", "VERSION")
	for _, name := range f.Names() {
		v := f.Nodes[name]
		desired := f.Desired(name)
		var observed map[string]int64
		if v.Report != nil {
			observed = v.Report.ObservedGenerations
		}
		row(tw, name, onlineText(v.Online), genList(desired, nil), genList(remoteOnly(observed), desired),
			podCount(v.Report), sinceText(v.LastSeen(), now), orNone(v.AgentVersion()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, name := range f.Names() {
		if msg := conflictText(f.Nodes[name].Online); msg != "" {
			fmt.Fprintf(w, "%s: %s\n", name, msg)
		}
	}
	return nil
}

// onlineText is true or false, and NameConflict when the node says
// another device claims its name.
func onlineText(o *protocol.Online) string {
	if o == nil {
		return "unknown"
	}
	s := strconv.FormatBool(o.Online)
	if o.NameConflict != "" {
		s += ",NameConflict"
	}
	return s
}

// conflictText explains a node's name conflict in a sentence ("" without one).
func conflictText(o *protocol.Online) string {
	if o == nil || o.NameConflict == "" {
		return ""
	}
	return fmt.Sprintf("two devices use this node name (instances %s and %s): neither applies documents sent to it nor "+
		"publishes its status; give each device its own nodeName and restart it", orNone(o.Instance), o.NameConflict)
}

// shortSource is "node" for remote:node, the group name for a group.
func shortSource(src string) string {
	if g, ok := strings.CutPrefix(src, "remote:group/"); ok {
		return g
	}
	return strings.TrimPrefix(src, "remote:")
}

func remoteOnly(gens map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for src, g := range gens {
		if strings.HasPrefix(src, "remote:") {
			out[src] = g
		}
	}
	return out
}

// genList renders {source: generation} as "node=3,edge=4", the node's own
// document first; with want, a generation below want's is starred.
func genList(gens, want map[string]int64) string {
	if len(gens) == 0 {
		return "<none>"
	}
	srcs := slices.Sorted(maps.Keys(gens))
	slices.SortStableFunc(srcs, func(a, b string) int {
		return boolInt(b == "remote:node") - boolInt(a == "remote:node")
	})
	parts := make([]string, len(srcs))
	for i, src := range srcs {
		parts[i] = shortSource(src) + "=" + strconv.FormatInt(gens[src], 10)
		if w, ok := want[src]; ok && gens[src] < w {
			parts[i] += "*"
		}
	}
	return strings.Join(parts, ",")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// podCount is "ready/total" of the reported pods.
func podCount(r *protocol.NodeReport) string {
	if r == nil {
		return "-"
	}
	ready := 0
	for _, p := range r.Pods {
		if podIsReady(p) {
			ready++
		}
	}
	return fmt.Sprintf("%d/%d", ready, len(r.Pods))
}

func podIsReady(p api.PodStatus) bool {
	for _, c := range p.Conditions {
		if c.Type == api.PodReady {
			return c.Status == "True"
		}
	}
	return false
}

func sinceText(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return humanDuration(now.Sub(t))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// printPods is `get pods --node N`, from the node's report.
func printPods(w io.Writer, pods []api.PodStatus, now time.Time) error {
	tw := newTable(w)
	row(tw, "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "SOURCE")
	for _, p := range pods {
		age := "<unknown>"
		if p.StartTime != nil {
			age = humanDuration(now.Sub(*p.StartTime))
		}
		row(tw, p.Name, containersReady(p), podStatusText(p), strconv.Itoa(int(restarts(p))), age, orNone(p.PodIP), shortSource(p.Source))
	}
	return tw.Flush()
}

func containersReady(p api.PodStatus) string {
	ready := 0
	for _, c := range p.ContainerStatuses {
		if c.Ready {
			ready++
		}
	}
	return fmt.Sprintf("%d/%d", ready, len(p.ContainerStatuses))
}

func restarts(p api.PodStatus) int32 {
	var n int32
	for _, c := range slices.Concat(p.InitContainerStatuses, p.ContainerStatuses) {
		n += c.RestartCount
	}
	return n
}

// podStatusText is kubectl's STATUS column (api.PodStatus.DisplayReason).
func podStatusText(p api.PodStatus) string { return p.DisplayReason() }

// printProgress tells how a wait ended: who observed, who rejected and why,
// who is missing.
func printProgress(w io.Writer, p fleet.Progress, took time.Duration) {
	total := len(p.Observed) + len(p.Rejected) + len(p.Pending)
	fmt.Fprintf(w, "%d of %d node(s) observed %s generation %d (%s)\n", len(p.Observed), total, p.Target, p.Generation, took.Round(time.Millisecond))
	if len(p.Rejected) > 0 {
		tw := newTable(w)
		row(tw, "REJECTED BY", "REASON", "MESSAGE")
		for _, r := range p.Rejected {
			row(tw, r.Node, r.Reason, r.Message)
		}
		tw.Flush()
	}
	if len(p.Pending) > 0 {
		tw := newTable(w)
		row(tw, "NOT YET", "ONLINE", "OBSERVED")
		for _, pd := range p.Pending {
			online := "unknown"
			if pd.Online != nil {
				online = strconv.FormatBool(*pd.Online)
			}
			row(tw, pd.Node, online, strconv.FormatInt(pd.Observed, 10))
		}
		tw.Flush()
	}
}

// eventLine is one event as `events` prints it.
func eventLine(ev protocol.Event) string {
	msg := ev.Message
	if ev.Count > 1 {
		msg += fmt.Sprintf(" (x%d)", ev.Count)
	}
	return fmt.Sprintf("%s  %s  %s  %s  %s  %s", ev.Time.UTC().Format(time.RFC3339), ev.Node, ev.Type, ev.Reason, orNone(ev.Object), msg)
}

// humanDuration is kubectl's short age: 45s, 3m20s, 2h10m, 5d.
func humanDuration(d time.Duration) string {
	s := int(d.Seconds())
	switch {
	case s < 0:
		return "0s"
	case s < 120:
		return fmt.Sprintf("%ds", s)
	case d < 10*time.Minute:
		if s%60 != 0 {
			return fmt.Sprintf("%dm%ds", s/60, s%60)
		}
		return fmt.Sprintf("%dm", s/60)
	case d < 3*time.Hour:
		return fmt.Sprintf("%dm", s/60)
	case d < 8*time.Hour:
		if m := (s / 60) % 60; m != 0 {
			return fmt.Sprintf("%dh%dm", s/3600, m)
		}
		return fmt.Sprintf("%dh", s/3600)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", s/3600)
	}
	return fmt.Sprintf("%dd", s/86400)
}
