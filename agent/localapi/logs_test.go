package localapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/runtime/logs"
	"github.com/outpost-edge/outpost/runtime/podfiles"
	"github.com/outpost-edge/outpost/store"
)

// logFile writes lines to a container attempt's log with a real
// logs.Writer and returns a function writing more lines to it.
func logFile(t *testing.T, path string, lines ...string) func(...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := logs.NewWriter(path, logs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	if err := w.Attach(logs.Stdout, pr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pw.Close()
		w.Close(context.Background())
	})
	write := func(lines ...string) {
		for _, l := range lines {
			if _, err := io.WriteString(pw, l+"\n"); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(lines...)
	// The writer copies asynchronously: wait for the last line to land.
	if len(lines) > 0 {
		waitFor(t, func() bool {
			data, _ := os.ReadFile(path)
			return strings.Contains(string(data), lines[len(lines)-1])
		})
	}
	return write
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLogs(t *testing.T) {
	e := newEnv(t)
	uid := seed(t, e.store, store.SourceStatic, 1, webPod)["web"]
	dir := podfiles.Dir(filepath.Join(e.dataDir, "pods", uid))
	logFile(t, dir.ContainerLog("nginx", 0), "first run 1", "first run 2")
	logFile(t, dir.ContainerLog("nginx", 1), "one", "two", "three")

	tests := []struct {
		query string
		want  string
	}{
		{"", "one\ntwo\nthree\n"},
		{"?tail=2", "two\nthree\n"},
		{"?tail=0", ""},
		{"?container=nginx&previous=true", "first run 1\nfirst run 2\n"},
		{"?previous=1&tail=1", "first run 2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			code, body := e.do(t, "GET", "/v1/pods/web/logs"+tt.query, "")
			if code != http.StatusOK || string(body) != tt.want {
				t.Errorf("status %d body %q, want %q", code, body, tt.want)
			}
		})
	}
}

func TestLogsPreviousMissing(t *testing.T) {
	e := newEnv(t)
	uid := seed(t, e.store, store.SourceStatic, 1, webPod)["web"]
	logFile(t, podfiles.Dir(filepath.Join(e.dataDir, "pods", uid)).ContainerLog("nginx", 0), "only")
	code, body := e.do(t, "GET", "/v1/pods/web/logs?previous=true", "")
	if code != http.StatusNotFound || !strings.Contains(string(body), "previous terminated container") {
		t.Errorf("status %d: %s", code, body)
	}
}

// TestLogsFollow follows a log, sees lines written after the request, and
// checks that the handler ends once the client goes away.
func TestLogsFollow(t *testing.T) {
	st := openStore(t)
	dataDir := t.TempDir()
	uid := seed(t, st, store.SourceStatic, 1, webPod)["web"]
	write := logFile(t, podfiles.Dir(filepath.Join(dataDir, "pods", uid)).ContainerLog("nginx", 0), "a", "b")

	s := New(&StoreBackend{Store: st}, Options{DataDir: dataDir, Logger: testLogger(t)})
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	handlerDone := make(chan struct{}, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Handler().ServeHTTP(w, r)
		handlerDone <- struct{}{}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://outpost/v1/pods/web/logs?follow=true&tail=1", nil)
	resp, err := unixClient(sock).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l := <-lines:
			return l
		case <-time.After(30 * time.Second):
			t.Fatal("no line in 30 s")
			return ""
		}
	}
	if got := next(); got != "b" {
		t.Fatalf("first line %q, want b (tail=1)", got)
	}
	for i := range 3 {
		write(fmt.Sprintf("later %d", i))
		if got, want := next(), fmt.Sprintf("later %d", i); got != want {
			t.Fatalf("line %q, want %q", got, want)
		}
	}
	cancel()
	select {
	case <-handlerDone:
	case <-time.After(30 * time.Second):
		t.Fatal("follow handler still running 30 s after the client went away")
	}
}
