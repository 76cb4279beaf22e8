package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/agent/localapi"
	"github.com/outpost-edge/outpost/internal/cli"
	"github.com/outpost-edge/outpost/netrules"
)

// runNetrules: `outpost netrules dump` prints the agent's nftables table as
// nft text, for debugging service routing.
func runNetrules(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("netrules dump", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var f cliFlags
	f.register(fl)
	pos, err := cli.ParseInterspersed(fl, args)
	if err != nil || len(pos) != 1 || pos[0] != "dump" {
		fmt.Fprintln(stderr, "usage: outpost netrules dump")
		return exitError{Code: 2}
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	ctx, cancel := cliContext()
	defer cancel()
	var v localapi.NetRulesView
	if err := c.getJSON(ctx, "/v1/netrules", &v); err != nil {
		return err
	}
	_, err = io.WriteString(stdout, v.Text)
	return err
}

// runCleanup removes what outpost programmed in the kernel outside its data
// dir: its nftables table and its service CIDR route, and nothing else (run
// it with the agent stopped, e.g. when removing the package).
func runCleanup(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("cleanup", flag.ContinueOnError)
	fl.SetOutput(stderr)
	table := fl.String("table", "outpost", "the nftables table to delete")
	if err := fl.Parse(args); err != nil {
		return exitError{Code: 2}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := netrules.New(ctx, netrules.Config{TableName: *table}, zerolog.Nop())
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.Cleanup(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed the nftables table %q and the service CIDR route\n", *table)
	return nil
}
