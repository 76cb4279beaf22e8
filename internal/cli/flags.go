package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// FlagSet is one subcommand's flags and its synopsis, positional arguments
// included ("outpost describe pod NAME"), which --help and every usage
// mistake print above the flags.
type FlagSet struct {
	*flag.FlagSet
	synopsis string
	out      io.Writer
}

// NewFlagSet makes the flags of the subcommand name.
func NewFlagSet(name, synopsis string, stderr io.Writer) *FlagSet {
	fs := &FlagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), synopsis: synopsis, out: stderr}
	fs.SetOutput(stderr)
	fs.FlagSet.Usage = fs.usage
	return fs
}

func (fs *FlagSet) usage() {
	fmt.Fprintf(fs.out, "usage: %s\n", fs.synopsis)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(fs.out, "\nflags:")
		fs.PrintDefaults()
	}
}

// Parse parses args, flags anywhere among them (ParseInterspersed), and
// returns the positional arguments, which must number from min to max
// (max < 0: no bound). --help prints the usage and ends the command with
// 0; a mistake prints it and ends the command with 2.
func (fs *FlagSet) Parse(args []string, min, max int) ([]string, error) {
	pos, err := ParseInterspersed(fs.FlagSet, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, ExitError{Code: 0}
	case err != nil: // the flag package printed the error and the usage
		return nil, ExitError{Code: 2}
	case len(pos) < min:
		return nil, fs.Fail("missing arguments")
	case max >= 0 && len(pos) > max:
		return nil, fs.Fail("too many arguments")
	}
	return pos, nil
}

// Fail prints what is wrong with the command line and the usage, and
// returns the error that ends the command with 2.
func (fs *FlagSet) Fail(format string, args ...any) error {
	fmt.Fprintf(fs.out, "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.usage()
	return ExitError{Code: 2}
}

// StringList is a repeatable string flag (-f a -f b).
type StringList []string

func (l *StringList) String() string     { return strings.Join(*l, ",") }
func (l *StringList) Set(s string) error { *l = append(*l, s); return nil }
