package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/outpost-edge/outpost/agent/localapi"
	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/cli"
)

// runApply sends manifests to the agent's static source, as kubectl apply
// does; each file is applied on its own, and every problem is printed.
func runApply(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("apply", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var f cliFlags
	f.register(fl)
	var files stringList
	fl.Var(&files, "f", "manifest file, directory (its *.yaml, *.yml, *.json) or - for stdin; repeatable")
	pos, err := cli.ParseInterspersed(fl, args)
	if err != nil {
		return exitError{Code: 2}
	}
	if len(files) == 0 || len(pos) > 0 {
		fmt.Fprintln(stderr, "usage: outpost apply -f FILE|DIR|- [-f ...]")
		return exitError{Code: 2}
	}
	var paths []string
	for _, f := range files {
		p, err := api.ManifestFiles(f)
		if err != nil {
			return err
		}
		paths = append(paths, p...)
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	ctx, cancel := cliContext()
	defer cancel()
	failed := 0
	for _, p := range paths {
		data, err := api.ReadManifestFile(p)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", p, err)
			failed++
			continue
		}
		resp, err := c.do(ctx, http.MethodPost, "/v1/apply", bytes.NewReader(data), nil)
		var ae *apiError
		if errors.As(err, &ae) && len(ae.body.Problems) > 0 {
			for _, pr := range ae.body.Problems {
				fmt.Fprintf(stderr, "%s: %s\n", p, problemText(pr))
			}
			failed++
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		sum, err := decodeSummary(resp)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		printChanges(stdout, sum)
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "%d of %d file(s) not applied\n", failed, len(paths))
		return exitError{Code: 1}
	}
	return nil
}

func problemText(p localapi.Problem) string {
	var b bytes.Buffer
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

func printChanges(w io.Writer, sum localapi.ApplySummary) {
	for _, c := range sum.Changes {
		fmt.Fprintf(w, "%s/%s %s\n", c.Kind, c.Name, c.Action)
	}
}

// runDelete removes a pod from the static source.
func runDelete(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("delete", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var f cliFlags
	f.register(fl)
	pos, err := cli.ParseInterspersed(fl, args)
	if err != nil {
		return exitError{Code: 2}
	}
	if len(pos) < 2 || (pos[0] != "pod" && pos[0] != "pods" && pos[0] != "po") {
		fmt.Fprintln(stderr, "usage: outpost delete pod NAME...")
		return exitError{Code: 2}
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	ctx, cancel := cliContext()
	defer cancel()
	for _, name := range pos[1:] {
		resp, err := c.do(ctx, http.MethodDelete, "/v1/pods/"+url.PathEscape(name), nil, nil)
		if err != nil {
			return err
		}
		if _, err := decodeSummary(resp); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "pod %q deleted\n", name)
	}
	return nil
}

func decodeSummary(resp *http.Response) (localapi.ApplySummary, error) {
	defer resp.Body.Close()
	var sum localapi.ApplySummary
	if err := json.NewDecoder(resp.Body).Decode(&sum); err != nil {
		return sum, fmt.Errorf("reading the agent's answer: %w", err)
	}
	return sum, nil
}
