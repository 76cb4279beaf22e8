package prober

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
)

// probeServer is a real HTTP server on 127.0.0.1 that records what it saw.
type probeServer struct {
	*httptest.Server
	port int32
	mu   sync.Mutex
	hits []*http.Request
}

func newProbeServer(t *testing.T, tls bool) *probeServer {
	s := &probeServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	})
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 4096))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits = append(s.hits, r.Clone(context.Background()))
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
	if tls {
		s.Server = httptest.NewTLSServer(handler)
	} else {
		s.Server = httptest.NewServer(handler)
	}
	t.Cleanup(s.Close)
	u, _ := url.Parse(s.URL)
	p, _ := strconv.Atoi(u.Port())
	s.port = int32(p)
	return s
}

func (s *probeServer) paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.hits {
		out = append(out, r.URL.RequestURI())
	}
	return out
}

func (s *probeServer) last() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[len(s.hits)-1]
}

func TestHTTPProbe(t *testing.T) {
	srv := newProbeServer(t, false)
	tlsSrv := newProbeServer(t, true)
	port := api.FromInt(srv.port)
	// A port that refuses: bound, then closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := int32(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	elsewhere := "http://localhost:" + strconv.Itoa(int(srv.port)) + "/status/500"

	tests := []struct {
		name      string
		action    api.HTTPGetAction
		srv       *probeServer
		podIP     string
		ports     []api.ContainerPort
		wantOK    bool
		wantMsg   string // substring
		wantPaths []string
	}{
		{"200", api.HTTPGetAction{Path: "/status/200", Port: port}, srv, "127.0.0.1", nil, true, "", []string{"/status/200"}},
		{"204 with host network", api.HTTPGetAction{Path: "/status/204", Port: port}, srv, "", nil, true, "", []string{"/status/204"}},
		{"399", api.HTTPGetAction{Path: "/status/399", Port: port}, srv, "", nil, true, "", []string{"/status/399"}},
		{"404", api.HTTPGetAction{Path: "/status/404", Port: port}, srv, "", nil, false, "HTTP probe failed with statuscode: 404", []string{"/status/404"}},
		{"500", api.HTTPGetAction{Path: "/status/500", Port: port}, srv, "", nil, false, "HTTP probe failed with statuscode: 500", []string{"/status/500"}},
		{"302 to the same host is followed", api.HTTPGetAction{Path: "/redirect?to=/status/200", Port: port}, srv, "", nil, true, "",
			[]string{"/redirect?to=/status/200", "/status/200"}},
		{"302 to the same host that fails", api.HTTPGetAction{Path: "/redirect?to=/status/503", Port: port}, srv, "", nil, false,
			"statuscode: 503", []string{"/redirect?to=/status/503", "/status/503"}},
		{"302 to another host is not followed and succeeds", api.HTTPGetAction{Path: "/redirect?to=" + url.QueryEscape(elsewhere), Port: port}, srv, "", nil, true, "",
			[]string{"/redirect?to=" + url.QueryEscape(elsewhere)}},
		{"named port", api.HTTPGetAction{Path: "/status/200", Port: api.FromString("web")}, srv, "",
			[]api.ContainerPort{{Name: "metrics", ContainerPort: 1}, {Name: "web", ContainerPort: srv.port}}, true, "", []string{"/status/200"}},
		{"HTTPS with a self-signed certificate", api.HTTPGetAction{Path: "/status/200", Port: api.FromInt(tlsSrv.port), Scheme: "HTTPS"}, tlsSrv, "", nil, true, "", []string{"/status/200"}},
		{"endless body is read capped", api.HTTPGetAction{Path: "/endless", Port: port}, srv, "", nil, true, "", []string{"/endless"}},
		{"connection refused", api.HTTPGetAction{Path: "/", Port: api.FromInt(closed)}, srv, "", nil, false, "connect: connection refused", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(tt.srv.paths())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ok, msg, err := Run(ctx, &api.Probe{HTTPGet: &tt.action}, Target{PodIP: tt.podIP, Ports: tt.ports})
			if err != nil || ok != tt.wantOK || !strings.Contains(msg, tt.wantMsg) || ok && msg != "" {
				t.Fatalf("Run = %v, %q, %v; want %v, %q", ok, msg, err, tt.wantOK, tt.wantMsg)
			}
			if got := tt.srv.paths()[before:]; strings.Join(got, " ") != strings.Join(tt.wantPaths, " ") {
				t.Fatalf("server saw %q, want %q", got, tt.wantPaths)
			}
		})
	}
}

func TestHTTPProbeHeaders(t *testing.T) {
	srv := newProbeServer(t, false)
	action := &api.HTTPGetAction{Path: "/status/200", Port: api.FromInt(srv.port), HTTPHeaders: []api.HTTPHeader{
		{Name: "X-Probe", Value: "a"}, {Name: "x-probe", Value: "b"}, {Name: "Host", Value: "app.example"},
		{Name: "Accept", Value: "application/json"},
	}}
	if ok, msg, err := Run(context.Background(), &api.Probe{HTTPGet: action}, Target{}); !ok {
		t.Fatalf("Run = %v, %q, %v", ok, msg, err)
	}
	r := srv.last()
	if got := r.Header.Values("X-Probe"); strings.Join(got, ",") != "a,b" {
		t.Errorf("X-Probe = %q", got)
	}
	if r.Host != "app.example" {
		t.Errorf("Host = %q", r.Host)
	}
	if r.Header.Get("Accept") != "application/json" || !strings.HasPrefix(r.UserAgent(), "kube-probe/") {
		t.Errorf("Accept = %q, User-Agent = %q", r.Header.Get("Accept"), r.UserAgent())
	}
}

// TestHTTPProbeTimeout: a handler slower than the timeout fails the attempt
// and is not waited for.
func TestHTTPProbeTimeout(t *testing.T) {
	srv := newProbeServer(t, false)
	const timeout = 100 * time.Millisecond
	ctx, cancel := context.WithTimeoutCause(context.Background(), timeout, &TimeoutError{Timeout: timeout})
	defer cancel()
	began := time.Now()
	ok, msg, err := Run(ctx, &api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/slow", Port: api.FromInt(srv.port)}}, Target{})
	want := `Get "http://127.0.0.1:` + strconv.Itoa(int(srv.port)) + `/slow": timed out after 100ms`
	if ok || err != nil || msg != want {
		t.Fatalf("Run = %v, %q, %v; want failure %q", ok, msg, err, want)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestInvalidProbes(t *testing.T) {
	tests := []struct {
		name  string
		probe *api.Probe
	}{
		{"nil", nil},
		{"no handler", &api.Probe{}},
		{"unknown port name", &api.Probe{HTTPGet: &api.HTTPGetAction{Port: api.FromString("web")}}},
		{"port out of range", &api.Probe{TCPSocket: &api.TCPSocketAction{Port: api.FromInt(70000)}}},
		{"bad scheme", &api.Probe{HTTPGet: &api.HTTPGetAction{Port: api.FromInt(80), Scheme: "FTP"}}},
		{"exec without Execer", &api.Probe{Exec: &api.ExecAction{Command: []string{"true"}}}},
	}
	for _, tt := range tests {
		if _, _, err := Run(context.Background(), tt.probe, Target{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", tt.name, err)
		}
	}
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := int32(l.Addr().(*net.TCPAddr).Port)
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := int32(l2.Addr().(*net.TCPAddr).Port)
	l2.Close()

	tests := []struct {
		name    string
		action  api.TCPSocketAction
		podIP   string
		ports   []api.ContainerPort
		wantOK  bool
		wantMsg string
	}{
		{"listening", api.TCPSocketAction{Port: api.FromInt(open)}, "127.0.0.1", nil, true, ""},
		{"host network", api.TCPSocketAction{Port: api.FromInt(open)}, "", nil, true, ""},
		{"explicit host", api.TCPSocketAction{Port: api.FromInt(open), Host: "127.0.0.1"}, "192.0.2.1", nil, true, ""},
		{"named port", api.TCPSocketAction{Port: api.FromString("db")}, "", []api.ContainerPort{{Name: "db", ContainerPort: open}}, true, ""},
		{"closed port", api.TCPSocketAction{Port: api.FromInt(closed)}, "127.0.0.1", nil, false,
			"dial tcp 127.0.0.1:" + strconv.Itoa(int(closed)) + ": connect: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, msg, err := Run(context.Background(), &api.Probe{TCPSocket: &tt.action}, Target{PodIP: tt.podIP, Ports: tt.ports})
			if err != nil || ok != tt.wantOK || msg != tt.wantMsg {
				t.Fatalf("Run = %v, %q, %v; want %v, %q", ok, msg, err, tt.wantOK, tt.wantMsg)
			}
		})
	}
}

func TestResolvePort(t *testing.T) {
	ports := []api.ContainerPort{{Name: "web", ContainerPort: 8080}, {Name: "9090", ContainerPort: 9091}}
	tests := []struct {
		port api.IntOrString
		want int
		err  bool
	}{
		{api.FromInt(80), 80, false},
		{api.FromString("web"), 8080, false},
		{api.FromString("9090"), 9091, false}, // a name wins over a number
		{api.FromString("8443"), 8443, false}, // kubelet's fallback: a number written as a string
		{api.FromString("admin"), 0, true},
		{api.FromInt(0), 0, true},
		{api.FromInt(65536), 0, true},
	}
	for _, tt := range tests {
		got, err := resolvePort(tt.port, ports)
		if got != tt.want || (err != nil) != tt.err || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("resolvePort(%v) = %d, %v; want %d, error %v", tt.port, got, err, tt.want, tt.err)
		}
	}
}
