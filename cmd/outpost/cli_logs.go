package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/outpost-edge/outpost/internal/cli"
)

// runLogs prints a container's log, as kubectl logs does.
func runLogs(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("logs", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var f cliFlags
	f.register(fl)
	container := fl.String("c", "", "container (needed when the pod has several)")
	follow := fl.Bool("f", false, "follow the log until interrupted")
	tail := fl.Int("tail", -1, "lines from the end to print (-1: all)")
	previous := fl.Bool("previous", false, "the log of the container's previous run")
	timestamps := fl.Bool("timestamps", false, "prefix each line with its time")
	pos, err := cli.ParseInterspersed(fl, args)
	if err != nil {
		return exitError{Code: 2}
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: outpost logs POD [-c CONTAINER] [-f] [--tail N] [--previous] [--timestamps]")
		return exitError{Code: 2}
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	ctx, cancel := cliContext()
	defer cancel()
	q := url.Values{}
	if *container != "" {
		q.Set("container", *container)
	}
	q.Set("tail", strconv.Itoa(*tail))
	q.Set("follow", strconv.FormatBool(*follow))
	q.Set("previous", strconv.FormatBool(*previous))
	q.Set("timestamps", strconv.FormatBool(*timestamps))
	resp, err := c.do(ctx, http.MethodGet, "/v1/pods/"+url.PathEscape(pos[0])+"/logs?"+q.Encode(), nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(stdout, resp.Body)
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return nil // interrupted while following
	}
	return err
}
