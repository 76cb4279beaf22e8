// Command outpostctl is the operator's side of Outpost: it talks to the
// fleet through the MQTT broker (docs/protocol.md), never to a node
// directly. It publishes nodes' and groups' desired documents (signed with
// an ed25519 key when given one) and waits until the nodes observed them,
// lists the nodes and their pods from what the broker retains, follows
// their events, and makes signing keys.
//
// The connection takes the agent's mqtt settings: flags, or a YAML file
// (--config) with the keys of the agent's mqtt section (or a whole agent
// configuration, whose mqtt section is used).
package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// Stamped at link time by the Makefile (-X main.version=... -X main.commit=...).
var (
	version = "dev"
	commit  = "unknown"
)

type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"apply":    {"publish a node's or a group's desired state: apply -f FILE|DIR (--node N | --group G) [--key K] [--wait]", runApply},
	"get":      {"list nodes or a node's pods: get nodes | get pods --node N [-o json]", runGet},
	"describe": {"show a node in detail: describe node N", runDescribe},
	"events":   {"print the nodes' events as they arrive: events [--node N] [-f]", runEvents},
	"keygen":   {"make an ed25519 signing key: keygen -o FILE [--key-id ID]", runKeygen},
	"sign":     {"print a signed desired document: sign -f FILE --key K [--generation N]", runSign},
	"version":  {"print the version", runVersion},
}

// exitError carries an exit code without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "outpostctl: unknown command %q\n\n", args[0])
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
		fmt.Fprintf(stderr, "outpostctl %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: outpostctl COMMAND [flags]\n\ncommands:\n")
	for _, n := range slices.Sorted(maps.Keys(commands)) {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nconnection flags (every command but keygen and sign): --broker URL (repeatable), --username,\n"+
		"--password (or $OUTPOSTCTL_PASSWORD), --ca, --cert, --key-file, --server-name, --prefix, or --config FILE\n"+
		"(default $OUTPOSTCTL_CONFIG, else ~/.config/outpost/outpostctl.yaml when it exists).\n"+
		"`outpostctl COMMAND -h` lists a command's flags.\n")
}

func runVersion(_ []string, stdout, _ io.Writer) error {
	fmt.Fprintf(stdout, "outpostctl %s (commit %s)\n", version, commit)
	return nil
}

// usageError prints a usage line and exits 2.
func usageError(stderr io.Writer, format string, args ...any) error {
	fmt.Fprintf(stderr, strings.TrimSuffix(format, "\n")+"\n", args...)
	return exitError{2}
}
