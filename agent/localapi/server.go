package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/netrules"
)

// SocketName is the socket's file name in the data directory.
const SocketName = "outpost.sock"

// shutdownGrace bounds how long Run waits for requests in flight once its
// context is done; following logs and exec sessions end with the context.
const shutdownGrace = 5 * time.Second

// Options configure a Server.
type Options struct {
	// Socket is the unix socket's path (default <DataDir>/outpost.sock).
	Socket string
	// DataDir is the agent's data directory: pods' logs are read from
	// <DataDir>/pods/<uid>/logs.
	DataDir string
	// NodeName names the node in views.
	NodeName string
	// Started is when the agent started (default: when New was called).
	Started time.Time
	// Logger receives the server's logs; the zero value logs nothing.
	Logger zerolog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rules is the node's service routing (netrules); nil when it is off.
	Rules Rules
}

// Rules is what the local API shows of the service routing.
type Rules interface {
	// Dump is the programmed table as nft text.
	Dump(ctx context.Context) (string, error)
	// Status is what the last sync programmed.
	Status() netrules.Status
}

// Server serves the local API on a unix socket.
type Server struct {
	b     Backend
	opts  Options
	log   zerolog.Logger
	mux   *http.ServeMux
	ready chan struct{}
}

// New returns a server over b; Run serves it.
func New(b Backend, opts Options) *Server {
	if opts.Socket == "" {
		opts.Socket = filepath.Join(opts.DataDir, SocketName)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Started.IsZero() {
		opts.Started = opts.Now()
	}
	log := opts.Logger
	if reflect.ValueOf(log).IsZero() {
		log = zerolog.Nop()
	}
	s := &Server{
		b:     b,
		opts:  opts,
		log:   log.With().Str("component", "localapi").Logger(),
		mux:   http.NewServeMux(),
		ready: make(chan struct{}),
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /v1/pods", s.listPods)
	s.mux.HandleFunc("GET /v1/pods/{name}", s.getPod)
	s.mux.HandleFunc("DELETE /v1/pods/{name}", s.deletePod)
	s.mux.HandleFunc("GET /v1/pods/{name}/logs", s.podLogs)
	s.mux.HandleFunc("POST /v1/pods/{name}/exec", s.podExec)
	s.mux.HandleFunc("GET /v1/services", s.listServices)
	s.mux.HandleFunc("GET /v1/node", s.getNode)
	s.mux.HandleFunc("GET /v1/status", s.getStatus)
	s.mux.HandleFunc("GET /v1/events", s.listEvents)
	s.mux.HandleFunc("POST /v1/apply", s.apply)
	s.mux.HandleFunc("GET /v1/netrules", s.netRules)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, fmt.Errorf("%w: no endpoint %s %s", ErrNotFound, r.Method, r.URL.Path))
	})
}

// Handler is the API with its recover and logging middleware, for tests
// and for serving on another listener.
func (s *Server) Handler() http.Handler { return s.recoverer(s.mux) }

// Ready is closed once the socket accepts connections.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Socket is the socket's path.
func (s *Server) Socket() string { return s.opts.Socket }

// Run listens on the socket and serves until ctx is done, then removes the
// socket. Requests in flight see their context cancelled.
func (s *Server) Run(ctx context.Context) error {
	l, err := Listen(s.opts.Socket)
	if err != nil {
		return err
	}
	defer l.Close()
	if fi, err := os.Lstat(s.opts.Socket); err == nil {
		defer func() {
			// Only our own socket: a newer agent may have replaced it.
			if cur, err := os.Lstat(s.opts.Socket); err == nil && os.SameFile(fi, cur) {
				os.Remove(s.opts.Socket)
			}
		}()
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	close(s.ready)
	s.log.Info().Str("socket", s.opts.Socket).Msg("local api listening")
	select {
	case err := <-errc:
		return fmt.Errorf("local api: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn().Err(err).Msg("local api shutdown")
		srv.Close()
	}
	<-errc
	return nil
}

// recoverer turns a panic in a handler into a logged 500, so bad input
// never takes the agent down.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &statusWriter{ResponseWriter: w}
		began := s.opts.Now()
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error().Str("method", r.Method).Str("path", r.URL.Path).Interface("panic", v).
					Bytes("stack", debug.Stack()).Msg("local api handler panicked")
				if !rw.wrote {
					s.writeJSON(rw, http.StatusInternalServerError,
						ErrorBody{Error: "internal error (logged by the agent)", Reason: ReasonInternal})
				}
			}
			s.log.Debug().Str("method", r.Method).Str("path", r.URL.Path).Int("status", rw.status).
				Dur("took", s.opts.Now().Sub(began)).Msg("local api request")
		}()
		next.ServeHTTP(rw, r)
	})
}

// statusWriter remembers whether and what a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		s.log.Debug().Err(err).Msg("writing response")
	}
}

// fail writes err as an ErrorBody with the status code of its kind.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, reason := classify(err)
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away
	}
	if code == http.StatusInternalServerError {
		s.log.Warn().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("local api request failed")
	}
	s.writeJSON(w, code, ErrorBody{Error: err.Error(), Reason: reason, Problems: problems(err)})
}

// Listen creates the API's unix socket at path, readable and writable by its
// owner (root) alone. The socket is bound in a private directory and moved
// into place once its mode is set, so no one else can connect in between
// and a stale socket left by a crash is replaced atomically. A live socket
// (another agent answers on it) or a path that is not a socket is refused.
func Listen(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("local api: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("local api: %w: another agent serves %s", ErrConflict, path)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("local api: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".sock-")
	if err != nil {
		return nil, fmt.Errorf("local api: %w", err)
	}
	defer os.RemoveAll(tmp)
	bound := filepath.Join(tmp, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: bound, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("local api: listen: %w", err)
	}
	// The listener must not unlink its bound name on Close: that name is
	// gone once renamed, and Run removes the socket itself.
	l.SetUnlinkOnClose(false)
	err = os.Chmod(bound, 0o600)
	if err == nil {
		err = os.Rename(bound, path)
	}
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("local api: socket: %w", err)
	}
	return l, nil
}

// NetRulesView is the programmed nftables table as text.
type NetRulesView struct {
	Text string `json:"text"`
}

func (s *Server) netRules(w http.ResponseWriter, r *http.Request) {
	if s.opts.Rules == nil {
		s.fail(w, r, fmt.Errorf("%w: service routing is off (see the agent log)", ErrUnavailable))
		return
	}
	text, err := s.opts.Rules.Dump(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, NetRulesView{Text: text})
}
