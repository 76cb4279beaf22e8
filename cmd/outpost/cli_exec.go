package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"

	"golang.org/x/term"

	"github.com/outpost-edge/outpost/agent/localapi"
)

// cliStdin is what exec -i sends; tests replace it.
var cliStdin io.Reader = os.Stdin

// runExec runs a command in a pod's container, as kubectl exec does, and
// exits with the command's exit code.
func runExec(args []string, stdout, stderr io.Writer) error {
	cmd := newLocalCommand("exec", "outpost exec POD [-c CONTAINER] [-i] [-t] -- COMMAND [ARG...]", stderr)
	container := cmd.String("c", "", "container (needed when the pod has several)")
	stdin := cmd.Bool("i", false, "pass stdin to the command")
	tty := cmd.Bool("t", false, "give the command a terminal (with -i, the local terminal goes raw)")
	pos, err := cmd.Parse(splitShortFlags(args), 2, -1)
	if err != nil {
		return err
	}
	c, ctx, cancel, err := cmd.connect()
	if err != nil {
		return err
	}
	defer cancel()

	if *tty && *stdin {
		in, ok := cliStdin.(*os.File)
		if !ok || !term.IsTerminal(int(in.Fd())) {
			fmt.Fprintln(stderr, "Unable to use a TTY - input is not a terminal")
			*tty = false
		} else {
			old, err := term.MakeRaw(int(in.Fd()))
			if err != nil {
				return fmt.Errorf("terminal raw mode: %w", err)
			}
			defer term.Restore(int(in.Fd()), old)
		}
	}
	q := url.Values{"command": pos[1:], "tty": {strconv.FormatBool(*tty)}, "stdin": {strconv.FormatBool(*stdin)}}
	if *container != "" {
		q.Set("container", *container)
	}
	hdr := http.Header{"Connection": {"Upgrade"}, "Upgrade": {localapi.UpgradeProtocol}}
	resp, err := c.do(ctx, http.MethodPost, "/v1/pods/"+url.PathEscape(pos[0])+"/exec?"+q.Encode(), nil, hdr)
	if err != nil {
		return err
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != http.StatusSwitchingProtocols || !ok {
		resp.Body.Close()
		return fmt.Errorf("the agent answered %s instead of starting the session", resp.Status)
	}
	defer rwc.Close()
	go func() {
		<-ctx.Done() // interrupted (outside raw mode): end the session
		rwc.Close()
	}()
	fr := localapi.NewFramer(rwc)
	if *stdin {
		go sendStdin(fr, cliStdin)
	}
	for {
		stream, p, err := localapi.ReadFrame(rwc)
		if err != nil {
			if ctx.Err() != nil {
				return exitError{Code: 130}
			}
			return fmt.Errorf("the session with the agent ended before the command: %w", err)
		}
		switch stream {
		case localapi.StreamStdout:
			stdout.Write(p)
		case localapi.StreamStderr:
			stderr.Write(p)
		case localapi.StreamExit:
			code, msg, err := localapi.ParseExit(p)
			switch {
			case err != nil:
				return err
			case msg != "":
				return errors.New(msg) // the command could not run, or was stopped
			case code != 0:
				return exitError{Code: code}
			}
			return nil
		}
	}
}

// sendStdin copies r to the session, then says stdin ended.
func sendStdin(fr *localapi.Framer, r io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if fr.WriteFrame(localapi.StreamStdin, buf[:n]) != nil {
				return
			}
		}
		if err != nil {
			fr.WriteFrame(localapi.StreamStdinClose, nil)
			return
		}
	}
}

// splitShortFlags turns kubectl's combined -it (or -ti) into -i -t, up to "--".
func splitShortFlags(args []string) []string {
	out := make([]string, 0, len(args)+1)
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if a == "-it" || a == "-ti" {
			out = append(out, "-i", "-t")
			continue
		}
		out = append(out, a)
	}
	return out
}
