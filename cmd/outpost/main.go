// Command outpost is the edge node agent, its local CLI and the containerd
// runc v2 shim, in one static binary.
//
// containerd runs this binary as its shim with the shim's flags at argv[1]
// (-namespace, -id, -address...): main hands those invocations to the shim
// before anything else, and no outpost subcommand or global flag may take one
// of those names.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/outpost-edge/outpost/runtime/shim"
)

// Stamped at link time by the Makefile (-X main.version=... -X main.commit=...).
var (
	version = "dev"
	commit  = "unknown"
)

// command is one subcommand of the multicall binary.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"agent":    {"run the node agent", runAgent},
	"apply":    {"apply manifests to the static source: outpost apply -f FILE|DIR|-", runApply},
	"delete":   {"delete a static pod: outpost delete pod NAME", runDelete},
	"describe": {"show a pod in detail: outpost describe pod NAME", runDescribe},
	"exec":     {"run a command in a container: outpost exec POD [-c C] [-i] [-t] -- CMD...", runExec},
	"get":      {"list pods, services or the node: outpost get pods|services|nodes [-o wide|json|yaml]", runGet},
	"images":   {"list, import and remove images: outpost images ls|import FILE|rm REF", runImages},
	"cleanup":  {"delete the agent's nftables table (with the agent stopped)", runCleanup},
	"netrules": {"print the programmed service rules: outpost netrules dump", runNetrules},
	"logs":     {"print a container's log: outpost logs POD [-c C] [-f] [--tail N] [--previous]", runLogs},
	"status":   {"the node at a glance: health, link, sources, outbox", runStatus},
	"validate": {"check manifests offline: outpost validate -f FILE|DIR|-", runValidate},
	"version":  {"print the version", runVersion},
}

// exitError carries an exit code without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	if shim.IsShimInvocation(os.Args) {
		shim.Run()
		return
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "outpost: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(args[1:], stdout, stderr)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintf(stderr, "outpost %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: outpost COMMAND [flags]\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
}

func runVersion(args []string, stdout, _ io.Writer) error {
	fmt.Fprintf(stdout, "outpost %s (commit %s)\n", version, commit)
	return nil
}
