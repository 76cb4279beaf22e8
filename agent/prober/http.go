package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/outpost-edge/outpost/api"
)

// userAgent starts with kube-probe/ because applications recognise probes
// by that prefix (to keep them out of access logs, for instance).
const userAgent = "kube-probe/outpost"

// maxRedirects is net/http's own limit, which kubelet keeps.
const maxRedirects = 10

// httpClient is shared by every HTTP probe. Without keep-alives it holds no
// connections between probes, so sharing it shares no state.
var httpClient = &http.Client{
	Transport: &http.Transport{
		// Probes go straight to the pod, never through HTTP_PROXY.
		Proxy:       nil,
		DialContext: dialer.DialContext,
		// kubelet does not verify probe certificates: pods serve
		// self-signed ones for their own names.
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as kubelet
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	},
	CheckRedirect: sameHostRedirects,
}

// sameHostRedirects follows a redirect only to the host of the first
// request, as kubelet does; a redirect elsewhere ends the probe with the
// 3xx response itself, which counts as success.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
}

func probeHTTP(ctx context.Context, a *api.HTTPGetAction, t Target) (bool, string, error) {
	req, err := newRequest(ctx, a, t)
	if err != nil {
		return false, "", err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Sprintf("Get %q: %v", req.URL.String(), ended(ctx)), nil
		}
		return false, err.Error(), nil
	}
	defer resp.Body.Close()
	// Read (a bounded part of) the body as kubelet does: a server that
	// fails while sending it fails the probe.
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxOutput)); err != nil && !errors.Is(err, io.EOF) {
		if ctx.Err() != nil {
			return false, fmt.Sprintf("Get %q: reading body: %v", req.URL.String(), ended(ctx)), nil
		}
		return false, fmt.Sprintf("Get %q: reading body: %v", req.URL.String(), err), nil
	}
	if resp.StatusCode >= http.StatusOK && resp.StatusCode < http.StatusBadRequest {
		return true, "", nil
	}
	return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode), nil
}

// newRequest builds the GET for a: host defaults to the pod IP, a path may
// carry a query, a Host header sets the request's host.
func newRequest(ctx context.Context, a *api.HTTPGetAction, t Target) (*http.Request, error) {
	scheme := strings.ToLower(a.Scheme)
	switch scheme {
	case "":
		scheme = "http"
	case "http", "https":
	default:
		return nil, fmt.Errorf("%w: scheme %q", ErrInvalid, a.Scheme)
	}
	port, err := resolvePort(a.Port, t.Ports)
	if err != nil {
		return nil, err
	}
	path := a.Path
	if path == "" {
		path = "/"
	}
	u, err := url.Parse(path)
	if err != nil {
		u = &url.URL{Path: path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host(a.Host, t.PodIP), strconv.Itoa(port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	for _, h := range a.HTTPHeaders {
		if http.CanonicalHeaderKey(h.Name) == "Host" {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", userAgent)
	}
	if _, ok := req.Header["Accept"]; !ok {
		req.Header.Set("Accept", "*/*")
	}
	return req, nil
}
