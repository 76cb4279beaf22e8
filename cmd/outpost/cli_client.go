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
