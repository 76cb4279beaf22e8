package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/outpost-edge/outpost/agent/localapi"
	"github.com/outpost-edge/outpost/internal/cli"
)

// cliFlags are the flags of the commands that talk to the agent's local
// API: --socket, or the configuration the socket's path derives from.
type cliFlags struct {
	agentFlags
	socket string
}

func (f *cliFlags) register(fl *flag.FlagSet) {
	f.agentFlags.register(fl)
	fl.StringVar(&f.socket, "socket", "", "the agent's local API socket (default <dataDir>/"+localapi.SocketName+")")
}

// localCommand is a command that talks to the agent's local API: its flags
// include the agent's configuration and --socket.
type localCommand struct {
	*cli.FlagSet
	f cliFlags
}

func newLocalCommand(name, synopsis string, stderr io.Writer) *localCommand {
	c := &localCommand{FlagSet: cli.NewFlagSet(name, synopsis, stderr)}
	c.f.register(c.FlagSet.FlagSet)
	return c
}

// connect returns a client of the local API and a context that Ctrl-C or
// SIGTERM cancel.
func (c *localCommand) connect() (*apiClient, context.Context, context.CancelFunc, error) {
	client, err := c.f.client()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := cliContext()
	return client, ctx, cancel, nil
}

// isPodKind says whether a kind argument names pods, as kubectl spells them.
func isPodKind(kind string) bool { return kind == "pod" || kind == "pods" || kind == "po" }

// client connects to --socket, or to the socket in the configured data dir.
func (f *cliFlags) client() (*apiClient, error) {
	socket := f.socket
	if socket == "" {
		cfg, err := f.load()
		if err != nil {
			return nil, err
		}
		socket = filepath.Join(cfg.DataDir, localapi.SocketName)
	}
	return newAPIClient(socket), nil
}

// apiClient speaks HTTP to the local API's unix socket.
type apiClient struct {
	socket string
	hc     *http.Client
}

func newAPIClient(socket string) *apiClient {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}
	return &apiClient{socket: socket, hc: &http.Client{Transport: &http.Transport{DialContext: dial}}}
}

// apiError is an error answer of the API.
type apiError struct {
	code int
	body localapi.ErrorBody
}

func (e *apiError) Error() string { return e.body.Error }

// do sends a request; an answer other than 2xx or 101 becomes an *apiError.
func (c *apiClient) do(ctx context.Context, method, path string, body io.Reader, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://outpost"+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cannot reach the agent at %s (is `outpost agent` running? --socket picks another): %w", c.socket, err)
	}
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	ae := &apiError{code: resp.StatusCode}
	if json.Unmarshal(data, &ae.body) != nil || ae.body.Error == "" {
		ae.body.Error = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	return nil, ae
}

func (c *apiClient) getJSON(ctx context.Context, path string, v any) error {
	resp, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("reading the agent's answer: %w", err)
	}
	return nil
}

// cliContext ends on SIGINT or SIGTERM, so following logs stops cleanly.
func cliContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
