package main

import (
	"context"
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
	cmd := newLocalCommand("netrules", "outpost netrules dump", stderr)
	pos, err := cmd.Parse(args, 1, 1)
	if err != nil {
		return err
	}
	if pos[0] != "dump" {
		return cmd.Fail("unknown subcommand %q", pos[0])
	}
	c, ctx, cancel, err := cmd.connect()
	if err != nil {
		return err
	}
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
	cmd := cli.NewFlagSet("cleanup", "outpost cleanup [--table NAME]", stderr)
	table := cmd.String("table", "outpost", "the nftables table to delete")
	if _, err := cmd.Parse(args, 0, 0); err != nil {
		return err
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
