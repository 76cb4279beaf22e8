// Package cli is what the outpost and outpostctl command lines share: a
// table of subcommands, the exit-code convention (0 ok, 1 error, 2 usage)
// and kubectl-style flags anywhere among the arguments.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
)

// Command is one subcommand.
type Command struct {
	Summary string
	Run     func(args []string, stdout, stderr io.Writer) error
}

// ExitError ends a command with Code without printing anything more.
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Main runs the subcommand args[0] of program name and returns the exit
// code: 2 for a usage problem, 1 for an error (printed), 0 otherwise.
func Main(name string, commands map[string]Command, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		Usage(name, commands, stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\n\n", name, args[0])
		Usage(name, commands, stderr)
		return 2
	}
	err := cmd.Run(args[1:], stdout, stderr)
	var ee ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.Code
	default:
		fmt.Fprintf(stderr, "%s %s: %v\n", name, args[0], err)
		return 1
	}
}

// Usage lists the commands, sorted.
func Usage(name string, commands map[string]Command, w io.Writer) {
	fmt.Fprintf(w, "usage: %s COMMAND [flags]\n\ncommands:\n", name)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].Summary)
	}
}

// ParseInterspersed parses flags anywhere among the positional arguments
// (get pods -o wide), as kubectl does; everything after "--" is positional.
func ParseInterspersed(fl *flag.FlagSet, args []string) ([]string, error) {
	var pos, rest []string
	for i, a := range args {
		if a == "--" {
			args, rest = args[:i], args[i+1:]
			break
		}
	}
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		if fl.NArg() == 0 {
			return append(pos, rest...), nil
		}
		pos = append(pos, fl.Arg(0))
		args = fl.Args()[1:]
	}
}
