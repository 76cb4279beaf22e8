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
	"fmt"
	"io"
	"os"

	"github.com/outpost-edge/outpost/internal/cli"
)

// Stamped at link time by the Makefile (-X main.version=... -X main.commit=...).
var (
	version = "dev"
	commit  = "unknown"
)

type command = cli.Command

var commands = map[string]command{
	"apply":    {Summary: "publish a node's or a group's desired state: apply -f FILE|DIR (--node N | --group G) [--key K] [--wait]", Run: runApply},
	"get":      {Summary: "list nodes or a node's pods: get nodes | get pods --node N [-o json]", Run: runGet},
	"describe": {Summary: "show a node in detail: describe node N", Run: runDescribe},
	"events":   {Summary: "print the nodes' events as they arrive: events [--node N] [-f]", Run: runEvents},
	"keygen":   {Summary: "make an ed25519 signing key: keygen -o FILE [--key-id ID]", Run: runKeygen},
	"sign":     {Summary: "print a signed desired document for a topic: sign -f FILE --key K (--node N | --group G) [--prefix P] [--generation N]", Run: runSign},
	"version":  {Summary: "print the version", Run: runVersion},
}

// exitError ends a command with its code without printing anything more.
type exitError = cli.ExitError

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	return cli.Main("outpostctl", commands, args, stdout, stderr)
}

func runVersion(_ []string, stdout, _ io.Writer) error {
	fmt.Fprintf(stdout, "outpostctl %s (commit %s)\n", version, commit)
	return nil
}
