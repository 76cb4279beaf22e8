package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/outpost-edge/outpost/cmd/outpostctl/fleet"
	"github.com/outpost-edge/outpost/internal/backoff"
	"github.com/outpost-edge/outpost/internal/cli"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// runGet lists nodes, or one node's pods, from the retained messages.
func runGet(args []string, stdout, stderr io.Writer) error {
	fl := cli.NewFlagSet("get", "outpostctl get nodes | get pods --node N [-o json]", stderr)
	var cf connFlags
	cf.register(fl.FlagSet)
	node := fl.String("node", "", "the node (get pods)")
	output := fl.String("o", "", "output: json, or a table when empty")
	pos, err := fl.Parse(args, 1, 1)
	if err != nil {
		return err
	}
	switch what := pos[0]; {
	case (what == "nodes" || what == "node" || what == "no") && *node == "":
	case (what == "pods" || what == "pod" || what == "po") && *node != "":
	default:
		return fl.Fail("nodes, or pods with --node N")
	}
	if *output != "" && *output != "json" {
		return fl.Fail("-o json, or no -o for a table")
	}
	ctx, cancel := cliContext()
	defer cancel()
	f, err := snapshot(ctx, &cf, *node)
	if err != nil {
		return err
	}
	if *node == "" {
		if *output == "json" {
			return printJSON(stdout, nodeList(f))
		}
		return printNodes(stdout, f, time.Now())
	}
	v, ok := f.Nodes[*node]
	if !ok || v.Report == nil {
		return fmt.Errorf("node %q has no status report on the broker", *node)
	}
	if *output == "json" {
		return printJSON(stdout, v.Report.Pods)
	}
	return printPods(stdout, v.Report.Pods, time.Now())
}

// snapshot connects, reads the fleet's retained messages and disconnects.
func snapshot(ctx context.Context, cf *connFlags, node string) (*fleet.Fleet, error) {
	c, err := cf.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	return c.Fleet(ctx, node)
}

// nodeJSON is a node as `get nodes -o json` prints it.
type nodeJSON struct {
	Name    string               `json:"name"`
	Online  *protocol.Online     `json:"online,omitempty"`
	Desired map[string]int64     `json:"desiredGenerations"`
	Report  *protocol.NodeReport `json:"report,omitempty"`
	Seen    *time.Time           `json:"lastSeen,omitempty"`
}

func nodeList(f *fleet.Fleet) []nodeJSON {
	out := []nodeJSON{}
	for _, name := range f.Names() {
		v := f.Nodes[name]
		n := nodeJSON{Name: name, Online: v.Online, Desired: f.Desired(name), Report: v.Report}
		if t := v.LastSeen(); !t.IsZero() {
			n.Seen = &t
		}
		out = append(out, n)
	}
	return out
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// runDescribe shows one node in detail.
func runDescribe(args []string, stdout, stderr io.Writer) error {
	fl := cli.NewFlagSet("describe", "outpostctl describe node NAME", stderr)
	var cf connFlags
	cf.register(fl.FlagSet)
	pos, err := fl.Parse(args, 2, 2)
	if err != nil {
		return err
	}
	if pos[0] != "node" && pos[0] != "nodes" && pos[0] != "no" {
		return fl.Fail("only nodes can be described, not %q", pos[0])
	}
	ctx, cancel := cliContext()
	defer cancel()
	f, err := snapshot(ctx, &cf, pos[1])
	if err != nil {
		return err
	}
	if _, ok := f.Nodes[pos[1]]; !ok {
		return fmt.Errorf("node %q: nothing retained on the broker (no online flag, status or document)", pos[1])
	}
	return describeNode(stdout, f, pos[1], time.Now())
}

// runEvents prints events as they arrive: for a short while, or with -f
// until interrupted, reconnecting when the broker goes away.
func runEvents(args []string, stdout, stderr io.Writer) error {
	fl := cli.NewFlagSet("events", "outpostctl events [--node N] [-f | --for 2s] [-o json]", stderr)
	var cf connFlags
	cf.register(fl.FlagSet)
	node := fl.String("node", "", "only this node's events")
	follow := fl.Bool("f", false, "keep following (until Ctrl-C); reconnects when the broker goes away")
	listen := fl.Duration("for", 2*time.Second, "without -f: how long to listen")
	output := fl.String("o", "", "output: json (one event per line), or text when empty")
	if _, err := fl.Parse(args, 0, 0); err != nil {
		return err
	}
	if *output != "" && *output != "json" {
		return fl.Fail("-o json, or no -o for text")
	}
	ctx, cancel := cliContext()
	defer cancel()
	if !*follow {
		var c context.CancelFunc
		ctx, c = context.WithTimeout(ctx, *listen)
		defer c()
	}
	n := 0
	show := func(ev protocol.Event) {
		n++
		if *output == "json" {
			data, _ := json.Marshal(ev)
			fmt.Fprintf(stdout, "%s\n", data)
			return
		}
		fmt.Fprintln(stdout, eventLine(ev))
	}
	pol := backoff.Policy{Min: time.Second, Max: 30 * time.Second, Reset: time.Minute}
	for connected := false; ; {
		began := time.Now()
		c, err := cf.dial(ctx)
		if err == nil {
			connected = true
			err = c.Events(ctx, *node, show)
			c.Close()
		}
		switch {
		case !connected && ctx.Err() == nil:
			return err // the first connection failed: a wrong URL should not make -f wait forever
		case ctx.Err() != nil:
			if !*follow && n == 0 {
				fmt.Fprintf(stderr, "no events in %s (events are not retained: only those published while listening show; -f follows)\n", *listen)
			}
			return nil
		case !*follow || !errors.Is(err, fleet.ErrBroker):
			return err
		}
		pol.Connected(time.Since(began))
		d := pol.Next()
		fmt.Fprintf(stderr, "%v; reconnecting in %s\n", err, d.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
	}
}
