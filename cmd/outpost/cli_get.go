package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/outpost-edge/outpost/agent/localapi"
)

// now is the CLI's clock; tests fix it.
var now = time.Now

// runGet lists pods, services or the node, as kubectl get does.
func runGet(args []string, stdout, stderr io.Writer) error {
	cmd := newLocalCommand("get", "outpost get pods|services|nodes [-o wide|json|yaml]", stderr)
	output := cmd.String("o", "", "output format: wide, json or yaml")
	pos, err := cmd.Parse(args, 1, 1)
	if err != nil {
		return err
	}
	switch *output {
	case "", "wide", "json", "yaml":
	default:
		return fmt.Errorf("unknown output format %q: want wide, json or yaml", *output)
	}
	c, ctx, cancel, err := cmd.connect()
	if err != nil {
		return err
	}
	defer cancel()
	wide := *output == "wide"
	switch pos[0] {
	case "pods", "pod", "po":
		var l localapi.PodList
		if err := c.getJSON(ctx, "/v1/pods", &l); err != nil {
			return err
		}
		if len(l.Items) == 0 && (*output == "" || wide) {
			fmt.Fprintln(stderr, "No pods found.")
			return nil
		}
		return printAs(stdout, *output, l, func() error { return printPods(stdout, l, wide, now()) })
	case "services", "service", "svc":
		var l localapi.ServiceList
		if err := c.getJSON(ctx, "/v1/services", &l); err != nil {
			return err
		}
		if len(l.Items) == 0 && (*output == "" || wide) {
			fmt.Fprintln(stderr, "No services found.")
			return nil
		}
		return printAs(stdout, *output, l, func() error { return printServices(stdout, l, wide) })
	case "nodes", "node", "no":
		var n localapi.NodeView
		if err := c.getJSON(ctx, "/v1/node", &n); err != nil {
			return err
		}
		return printAs(stdout, *output, n, func() error { return printNodes(stdout, n, wide, now()) })
	}
	return fmt.Errorf("unknown resource %q: want pods, services or nodes", pos[0])
}

// printAs prints v as JSON or YAML, or runs table for the other formats.
func printAs(w io.Writer, format string, v any, table func() error) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		return writeYAML(w, v)
	}
	return table()
}

// writeYAML prints v's JSON form as YAML, so the field names are the API's.
func writeYAML(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(generic); err != nil {
		return err
	}
	return enc.Close()
}
