package main

import (
	"bytes"
	"encoding/json"
	"errors"
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
	cmd := newLocalCommand("apply", "outpost apply -f FILE|DIR|- [-f ...]", stderr)
	var files cli.StringList
	cmd.Var(&files, "f", "manifest file, directory (its *.yaml, *.yml, *.json) or - for stdin; repeatable")
	if _, err := cmd.Parse(args, 0, 0); err != nil {
		return err
	}
	if len(files) == 0 {
		return cmd.Fail("-f is required")
	}
	paths, err := api.ManifestFiles(files...)
	if err != nil {
		return err
	}
	c, ctx, cancel, err := cmd.connect()
	if err != nil {
		return err
	}
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
	cmd := newLocalCommand("delete", "outpost delete pod NAME...", stderr)
	pos, err := cmd.Parse(args, 2, -1)
	if err != nil {
		return err
	}
	if !isPodKind(pos[0]) {
		return cmd.Fail("only pods can be deleted, not %q", pos[0])
	}
	c, ctx, cancel, err := cmd.connect()
	if err != nil {
		return err
	}
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
