package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/agent/localapi"
	"github.com/outpost-edge/outpost/api"
)

// runStatus prints the node at a glance: its health, the link, what each
// source last delivered and what waits in the outbox.
func runStatus(args []string, stdout, stderr io.Writer) error {
	cmd := newLocalCommand("status", "outpost status [-o json|yaml]", stderr)
	output := cmd.String("o", "", "output format: json or yaml")
	if _, err := cmd.Parse(args, 0, 0); err != nil {
		return err
	}
	c, ctx, cancel, err := cmd.connect()
	if err != nil {
		return err
	}
	defer cancel()
	var v localapi.StatusView
	if err := c.getJSON(ctx, "/v1/status", &v); err != nil {
		return err
	}
	return printAs(stdout, *output, v, func() error { return printStatus(stdout, v, now()) })
}

func printStatus(w io.Writer, v localapi.StatusView, now time.Time) error {
	tw := newTable(w)
	d := describer{tw}
	node := nodeStatusText(v.Node)
	if s := v.Node.Status; s != nil {
		node += fmt.Sprintf(" (agent %s, containerd %s, reported %s ago)",
			orUnknown(s.NodeInfo.AgentVersion), orUnknown(s.NodeInfo.ContainerdVersion), humanDuration(now.Sub(s.Time)))
	}
	d.line(0, "Node", "%s %s", v.Node.Name, node)
	d.line(0, "Agent up", "%s", humanDuration(now.Sub(v.Node.AgentStarted)))
	if s := v.Node.Status; s != nil {
		for _, c := range s.Conditions {
			if c.Type != api.NodeReady && c.Status == api.ConditionTrue {
				d.line(1, c.Type, "%s", c.Message)
			}
		}
	}
	if s := v.Node.Status; s != nil && s.NodeInfo.InstanceID != "" {
		d.line(0, "Identity", "instance %s, public key %s", s.NodeInfo.InstanceID, s.NodeInfo.PublicKey)
	}
	link := v.Link.State
	if !v.Link.LastConnect.IsZero() {
		link += fmt.Sprintf(", last connected %s ago", humanDuration(now.Sub(v.Link.LastConnect)))
	}
	if v.Link.LastError != "" {
		link += ", last error: " + v.Link.LastError
	}
	d.line(0, "Link", "%s", link)
	d.line(0, "Outbox", "%d message(s), %s, %d dropped", v.Outbox.Depth, byteSize(v.Outbox.Bytes), v.Outbox.Dropped)
	phases := make([]string, 0, len(v.Pods.ByPhase))
	for ph, n := range v.Pods.ByPhase {
		phases = append(phases, fmt.Sprintf("%d %s", n, strings.ToLower(ph)))
	}
	slices.Sort(phases)
	pods := fmt.Sprintf("%d, %d ready", v.Pods.Total, v.Pods.Ready)
	if len(phases) > 0 {
		pods += " (" + strings.Join(phases, ", ") + ")"
	}
	d.line(0, "Pods", "%s", pods)
	d.line(0, "Services", "%d", v.Services)
	if len(v.Generations) == 0 {
		d.line(0, "Sources", "<none>")
	} else {
		d.head(0, "Sources")
		srcs := make([]string, 0, len(v.Generations))
		for s := range v.Generations {
			srcs = append(srcs, s)
		}
		slices.Sort(srcs)
		for _, s := range srcs {
			d.line(1, s, "generation %d", v.Generations[s])
		}
	}
	if len(v.Conflicts) > 0 {
		d.head(0, "Conflicts")
		for _, c := range v.Conflicts {
			d.line(1, c.Kind+"/"+c.Name, "%s wins, %s's is not run", c.Winner, c.Loser)
		}
	}
	return tw.Flush()
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
