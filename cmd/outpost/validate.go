package main

import (
	"fmt"
	"io"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/cli"
)

// runValidate checks manifests offline: every problem with its file, line and
// path; exit 1 when there is any, 0 with a one-line summary otherwise.
func runValidate(args []string, stdout, stderr io.Writer) error {
	cmd := cli.NewFlagSet("validate", "outpost validate -f FILE|DIR|- [-f ...] (or the files as arguments)", stderr)
	var files cli.StringList
	cmd.Var(&files, "f", "manifest file, directory (its *.yaml, *.yml, *.json) or - for stdin; repeatable")
	pos, err := cmd.Parse(args, 0, -1)
	if err != nil {
		return err
	}
	files = append(files, pos...)
	if len(files) == 0 {
		return cmd.Fail("no file given")
	}
	paths, err := api.ManifestFiles(files...)
	if err != nil {
		return err
	}
	problems, pods, services := 0, 0, 0
	for _, p := range paths {
		data, err := api.ReadManifestFile(p)
		if err != nil {
			fmt.Fprintf(stdout, "%s: %v\n", p, err)
			problems++
			continue
		}
		ns, err := api.ParseManifest(data)
		if err != nil {
			for _, fe := range api.AsErrorList(err) {
				fmt.Fprintf(stdout, "%s: %s\n", p, fe)
				problems++
			}
			continue
		}
		pods += len(ns.Pods)
		services += len(ns.Services)
	}
	if problems > 0 {
		fmt.Fprintf(stdout, "%d problem(s) in %d file(s)\n", problems, len(paths))
		return exitError{Code: 1}
	}
	fmt.Fprintf(stdout, "ok: %d file(s), %d pod(s), %d service(s)\n", len(paths), pods, services)
	return nil
}
