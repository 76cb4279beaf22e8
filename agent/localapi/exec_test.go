package localapi

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/runtime/runtimeapi"
	"github.com/outpost-edge/outpost/store"
)

func TestFrameRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("x"), MaxFramePayload*2+10)
	tests := []struct {
		name    string
		stream  byte
		payload []byte
		frames  int
	}{
		{"empty", StreamStdinClose, nil, 1},
		{"small", StreamStdout, []byte("hello"), 1},
		{"split", StreamStderr, big, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := NewFramer(&b).WriteFrame(tt.stream, tt.payload); err != nil {
				t.Fatal(err)
			}
			var got []byte
			for i := range tt.frames {
				s, p, err := ReadFrame(&b)
				if err != nil || s != tt.stream {
					t.Fatalf("frame %d: stream %d err %v", i, s, err)
				}
				got = append(got, p...)
			}
			if !bytes.Equal(got, tt.payload) || b.Len() != 0 {
				t.Errorf("payload of %d bytes, want %d; %d left", len(got), len(tt.payload), b.Len())
			}
		})
	}
	code, msg, err := ParseExit(ExitPayload(-1, "killed"))
	if code != -1 || msg != "killed" || err != nil {
		t.Errorf("exit %d %q %v", code, msg, err)
	}
	if _, _, err := ReadFrame(bytes.NewReader([]byte{1, 0xff, 0, 0, 0})); err == nil {
		t.Error("oversized frame accepted")
	}
	if _, _, err := ReadFrame(bytes.NewReader([]byte{1, 0, 0, 0, 9, 'a'})); err != io.ErrUnexpectedEOF {
		t.Errorf("torn frame: %v", err)
	}
}

// dialExec opens an exec session by hand: the request, the 101, then frames.
func dialExec(t *testing.T, socket, pod string, q url.Values) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /v1/pods/%s/exec?%s HTTP/1.1\r\nHost: outpost\r\nConnection: Upgrade\r\nUpgrade: %s\r\nContent-Length: 0\r\n\r\n",
		pod, q.Encode(), UpgradeProtocol)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	return c, br
}

func TestExecRoundTrip(t *testing.T) {
	e := newEnv(t)
	uid := seed(t, e.store, store.SourceStatic, 1, webPod)["web"]
	ref := runtimeapi.PodRef{Source: "static", Name: "web", UID: uid}
	e.rt.obs = []runtimeapi.Observed{
		{ID: "old", Ref: ref, Container: "nginx", Attempt: 0, State: runtimeapi.StateExited},
		{ID: "cur", Ref: ref, Container: "nginx", Attempt: 1, State: runtimeapi.StateRunning},
	}
	var gotID string
	var gotReq runtimeapi.ExecRequest
	e.rt.exec = func(ctx context.Context, id string, req runtimeapi.ExecRequest) (int, error) {
		gotID, gotReq = id, req
		in, err := io.ReadAll(req.Stdin)
		if err != nil {
			return -1, err
		}
		fmt.Fprintf(req.Stdout, "%s", strings.ToUpper(string(in)))
		fmt.Fprintf(req.Stderr, "warning")
		return 3, nil
	}
	c, br := dialExec(t, e.socket, "web", url.Values{"command": {"sh", "-c", "tr a-z A-Z"}, "stdin": {"true"}, "tty": {"false"}})
	fr := NewFramer(c)
	fr.WriteFrame(StreamStdin, []byte("hello "))
	fr.WriteFrame(StreamStdin, []byte("world"))
	fr.WriteFrame(StreamStdinClose, nil)
	var stdout, stderr bytes.Buffer
	code := -100
	for code == -100 {
		s, p, err := ReadFrame(br)
		if err != nil {
			t.Fatalf("ReadFrame: %v", err)
		}
		switch s {
		case StreamStdout:
			stdout.Write(p)
		case StreamStderr:
			stderr.Write(p)
		case StreamExit:
			code, _, _ = ParseExit(p)
		}
	}
	if stdout.String() != "HELLO WORLD" || stderr.String() != "warning" || code != 3 {
		t.Errorf("stdout %q stderr %q code %d", stdout.String(), stderr.String(), code)
	}
	if gotID != "cur" || strings.Join(gotReq.Cmd, " ") != "sh -c tr a-z A-Z" || gotReq.TTY {
		t.Errorf("exec %s %+v", gotID, gotReq)
	}
	if _, _, err := ReadFrame(br); err != io.EOF {
		t.Errorf("after exit: %v, want the connection closed", err)
	}
}

// TestExecClientGone checks that a client going away ends the command.
func TestExecClientGone(t *testing.T) {
	e := newEnv(t)
	uid := seed(t, e.store, store.SourceStatic, 1, webPod)["web"]
	e.rt.obs = []runtimeapi.Observed{{ID: "c1", Ref: runtimeapi.PodRef{UID: uid}, Container: "nginx", State: runtimeapi.StateRunning}}
	started, ended := make(chan struct{}), make(chan error, 1)
	e.rt.exec = func(ctx context.Context, id string, req runtimeapi.ExecRequest) (int, error) {
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return -1, ctx.Err()
	}
	c, _ := dialExec(t, e.socket, "web", url.Values{"command": {"sleep", "1000"}, "tty": {"1"}})
	<-started
	c.Close()
	select {
	case err := <-ended:
		if err != context.Canceled {
			t.Errorf("exec ctx: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("exec still running 30 s after the client went away")
	}
}

func TestExecTargetErrors(t *testing.T) {
	e := newEnv(t)
	uid := seed(t, e.store, store.SourceStatic, 1, webPod+"---\n"+strings.ReplaceAll(webPod, "name: web", "name: two")+
		"  - name: side\n    image: busybox\n")
	e.rt.obs = []runtimeapi.Observed{{ID: "x", Ref: runtimeapi.PodRef{UID: uid["web"]}, Container: "nginx", State: runtimeapi.StateExited}}
	tests := []struct {
		pod, container string
		code           int
	}{
		{"web", "", http.StatusConflict},     // not running
		{"web", "nope", http.StatusNotFound}, // no such container
		{"two", "", http.StatusBadRequest},   // several: name one
		{"none", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.pod+"/"+tt.container, func(t *testing.T) {
			q := url.Values{"command": {"sh"}, "container": {tt.container}}
			req, _ := http.NewRequest("POST", "http://outpost/v1/pods/"+tt.pod+"/exec?"+q.Encode(), nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", UpgradeProtocol)
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.code, body)
			}
		})
	}
}
