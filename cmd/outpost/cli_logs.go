package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// runLogs prints a container's log, as kubectl logs does.
func runLogs(args []string, stdout, stderr io.Writer) error {
	cmd := newLocalCommand("logs", "outpost logs POD [-c CONTAINER] [-f] [--tail N] [--previous] [--timestamps]", stderr)
	container := cmd.String("c", "", "container (needed when the pod has several)")
	follow := cmd.Bool("f", false, "follow the log until interrupted")
	tail := cmd.Int("tail", -1, "lines from the end to print (-1: all)")
	previous := cmd.Bool("previous", false, "the log of the container's previous run")
	timestamps := cmd.Bool("timestamps", false, "prefix each line with its time")
	pos, err := cmd.Parse(args, 1, 1)
	if err != nil {
		return err
	}
	c, ctx, cancel, err := cmd.connect()
	if err != nil {
		return err
	}
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
