package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
)

func TestSocketModeAndRemoval(t *testing.T) {
	e := newEnv(t)
	fi, err := os.Lstat(e.socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("%s is %v, want a socket", e.socket, fi.Mode())
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("socket mode %o, want 600", perm)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Geteuid() {
		t.Errorf("socket owned by uid %d, want %d", uid, os.Geteuid())
	}
	// No temporary directory is left next to it.
	ents, _ := os.ReadDir(filepath.Dir(e.socket))
	for _, ent := range ents {
		if strings.HasPrefix(ent.Name(), ".sock-") {
			t.Errorf("leftover %s", ent.Name())
		}
	}
	if code, _ := e.do(t, "GET", "/v1/status", ""); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	e.stop()
	if _, err := os.Lstat(e.socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after shutdown: %v, want removed", err)
	}
}

func TestListenExistingPath(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close() // as after a crash: the file stays, no one answers

	live := filepath.Join(dir, "live.sock")
	ll, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer ll.Close()

	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		path    string
		wantErr bool
	}{
		{"stale socket replaced", stale, false},
		{"live socket refused", live, true},
		{"regular file refused", plain, true},
		{"new path", filepath.Join(dir, "sub", "new.sock"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Listen(tt.path)
			if tt.wantErr {
				if err == nil {
					l.Close()
					t.Fatal("Listen succeeded")
				}
				return
			}
			if err != nil {
				t.Fatalf("Listen: %v", err)
			}
			defer l.Close()
			c, err := net.Dial("unix", tt.path)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			c.Close()
			fi, _ := os.Lstat(tt.path)
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %o", fi.Mode().Perm())
			}
		})
	}
}

func TestReadEndpoints(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	uids := seed(t, e.store, store.SourceStatic, 1, webPod+"---\n"+webService)
	seed(t, e.store, store.SourceNode, 4, strings.ReplaceAll(webPod, "name: web", "name: api"))
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	err := e.store.PutPodStatus(ctx, api.PodStatus{
		Source: "static", Name: "web", UID: uids["web"], Phase: api.PodRunning, PodIP: "10.42.0.7", StartTime: &started,
		Conditions: []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue}},
		ContainerStatuses: []api.ContainerStatus{{Name: "nginx", Ready: true, RestartCount: 2,
			State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: started}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A pod that left the desired state and is still being stopped.
	if err := e.store.PutPodStatus(ctx, api.PodStatus{Source: "static", Name: "old", UID: "u-old", Phase: api.PodRunning}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RecordEvent(ctx, api.Event{Type: api.EventNormal, Reason: "Started", Message: "started nginx", Object: "pod/web", Time: started}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RecordEvent(ctx, api.Event{Type: api.EventWarning, Reason: "BackOff", Message: "x", Object: "pod/api", Time: started}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.AllocateClusterIP(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	nodeBlob, _ := json.Marshal(api.NodeStatus{Name: "pi-01", NodeInfo: api.NodeInfo{AgentVersion: "v0.3.0"},
		Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}})
	if err := e.store.PutNodeStatus(ctx, nodeBlob); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		path  string
		check func(t *testing.T, body []byte)
	}{
		{"/v1/pods", func(t *testing.T, body []byte) {
			l := decode[PodList](t, body)
			var names []string
			for _, p := range l.Items {
				names = append(names, p.Source+"/"+p.Name())
			}
			if got := strings.Join(names, " "); got != "remote:node/api static/old static/web" {
				t.Errorf("pods %q", got)
			}
			web := l.Items[2]
			if web.Status == nil || web.Status.PodIP != "10.42.0.7" || web.UID != uids["web"] || web.Pod == nil {
				t.Errorf("web %+v", web)
			}
			if old := l.Items[1]; old.Pod != nil || old.Status == nil {
				t.Errorf("old %+v", old)
			}
		}},
		{"/v1/pods/web", func(t *testing.T, body []byte) {
			d := decode[PodDetail](t, body)
			if d.Pod.Spec.Containers[0].Image != "nginx:1.27" || d.Status.Phase != api.PodRunning {
				t.Errorf("detail %+v", d)
			}
			if len(d.Events) != 1 || d.Events[0].Reason != "Started" {
				t.Errorf("events %+v", d.Events)
			}
		}},
		{"/v1/services", func(t *testing.T, body []byte) {
			l := decode[ServiceList](t, body)
			if len(l.Items) != 1 || l.Items[0].Service.Spec.ClusterIP == "" {
				t.Errorf("services %+v", l.Items)
			}
		}},
		{"/v1/node", func(t *testing.T, body []byte) {
			n := decode[NodeView](t, body)
			if n.Name != "pi-01" || n.Status == nil || n.Status.NodeInfo.AgentVersion != "v0.3.0" {
				t.Errorf("node %+v", n)
			}
		}},
		{"/v1/status", func(t *testing.T, body []byte) {
			s := decode[StatusView](t, body)
			if s.Generations["static"] != 1 || s.Generations["remote:node"] != 4 {
				t.Errorf("generations %v", s.Generations)
			}
			if s.Link.State != LinkNotConfigured || s.Outbox.Depth != 2 || s.Link.OutboxDepth != 2 {
				t.Errorf("link %+v outbox %+v", s.Link, s.Outbox)
			}
			if s.Pods.Total != 2 || s.Pods.Ready != 1 || s.Pods.ByPhase[api.PodPending] != 1 || s.Services != 1 {
				t.Errorf("pods %+v services %d", s.Pods, s.Services)
			}
		}},
		{"/v1/events?object=pod/api", func(t *testing.T, body []byte) {
			l := decode[EventList](t, body)
			if len(l.Items) != 1 || l.Items[0].Reason != "BackOff" {
				t.Errorf("events %+v", l.Items)
			}
		}},
		{"/v1/events?limit=1", func(t *testing.T, body []byte) {
			if l := decode[EventList](t, body); len(l.Items) != 1 || l.Items[0].Object != "pod/api" {
				t.Errorf("events %+v", l.Items)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, body := e.do(t, "GET", tt.path, "")
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			tt.check(t, body)
		})
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	seed(t, e.store, store.SourceStatic, 1, webPod)
	tests := []struct {
		method, path, body string
		code               int
		reason             string
	}{
		{"GET", "/v1/pods/nope", "", http.StatusNotFound, ReasonNotFound},
		{"GET", "/v2/whatever", "", http.StatusNotFound, ReasonNotFound},
		{"GET", "/v1/pods/web/logs?tail=x", "", http.StatusBadRequest, ReasonBadRequest},
		{"GET", "/v1/pods/web/logs?follow=maybe", "", http.StatusBadRequest, ReasonBadRequest},
		{"GET", "/v1/pods/web/logs?container=other", "", http.StatusNotFound, ReasonNotFound},
		{"GET", "/v1/pods/web/logs", "", http.StatusNotFound, ReasonNotFound}, // nothing logged yet
		{"GET", "/v1/events?limit=-3", "", http.StatusBadRequest, ReasonBadRequest},
		{"POST", "/v1/pods/web/exec?command=sh", "", http.StatusBadRequest, ReasonBadRequest}, // no upgrade
		{"POST", "/v1/pods/web/exec", "", http.StatusBadRequest, ReasonBadRequest},            // no command
		{"POST", "/v1/apply", "kind: Pod\nmetadata: {name: Bad_Name}\n", http.StatusUnprocessableEntity, ReasonInvalid},
		{"POST", "/v1/apply", "\x00\xff{{{", http.StatusUnprocessableEntity, ReasonInvalid},
		{"DELETE", "/v1/pods/nope", "", http.StatusNotFound, ReasonNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			code, body := e.do(t, tt.method, tt.path, tt.body)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %s", code, tt.code, body)
			}
			eb := decode[ErrorBody](t, body)
			if eb.Reason != tt.reason || eb.Error == "" {
				t.Errorf("body %+v, want reason %s", eb, tt.reason)
			}
		})
	}
}

// panicky panics on the merged view, as a bug on some input would.
type panicky struct{ *StoreBackend }

func (panicky) Desired(context.Context) (*store.Merged, error) { panic("boom") }

func TestPanicBecomes500(t *testing.T) {
	e := &env{}
	e.start(t, panicky{&StoreBackend{Store: openStore(t)}})
	code, body := e.do(t, "GET", "/v1/pods", "")
	if code != http.StatusInternalServerError || decode[ErrorBody](t, body).Reason != ReasonInternal {
		t.Fatalf("status %d: %s", code, body)
	}
	if code, _ := e.do(t, "GET", "/v1/events", ""); code != http.StatusOK {
		t.Fatalf("server after a panic: status %d", code)
	}
}
