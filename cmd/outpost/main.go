// Command outpost is the edge node agent, its local CLI and the containerd
// runc v2 shim, in one static binary.
//
// containerd runs this binary as its shim with the shim's flags at argv[1]
// (-namespace, -id, -address...): main hands those invocations to the shim
// before anything else, and no outpost subcommand or global flag may take one
// of those names.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/outpost-edge/outpost/internal/cli"
	"github.com/outpost-edge/outpost/runtime/shim"
)

// Stamped at link time by the Makefile (-X main.version=... -X main.commit=...).
var (
	version = "dev"
	commit  = "unknown"
)

type command = cli.Command

var commands = map[string]command{
	"agent":    {Summary: "run the node agent", Run: runAgent},
	"apply":    {Summary: "apply manifests to the static source: outpost apply -f FILE|DIR|-", Run: runApply},
	"delete":   {Summary: "delete a static pod: outpost delete pod NAME", Run: runDelete},
	"describe": {Summary: "show a pod in detail: outpost describe pod NAME", Run: runDescribe},
	"exec":     {Summary: "run a command in a container: outpost exec POD [-c C] [-i] [-t] -- CMD...", Run: runExec},
	"get":      {Summary: "list pods, services or the node: outpost get pods|services|nodes [-o wide|json|yaml]", Run: runGet},
	"images":   {Summary: "list, import and remove images: outpost images ls|import FILE|rm REF", Run: runImages},
	"cleanup":  {Summary: "delete the agent's nftables table (with the agent stopped)", Run: runCleanup},
	"netrules": {Summary: "print the programmed service rules: outpost netrules dump", Run: runNetrules},
	"logs":     {Summary: "print a container's log: outpost logs POD [-c C] [-f] [--tail N] [--previous]", Run: runLogs},
	"status":   {Summary: "the node at a glance: health, link, sources, outbox", Run: runStatus},
	"validate": {Summary: "check manifests offline: outpost validate -f FILE|DIR|-", Run: runValidate},
	"version":  {Summary: "print the version", Run: runVersion},
}

// exitError ends a command with its code without printing anything more.
type exitError = cli.ExitError

func main() {
	if shim.IsShimInvocation(os.Args) {
		shim.Run()
		return
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	return cli.Main("outpost", commands, args, stdout, stderr)
}

func runVersion(args []string, stdout, _ io.Writer) error {
	fmt.Fprintf(stdout, "outpost %s (commit %s)\n", version, commit)
	return nil
}
