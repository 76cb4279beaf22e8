package mqttlink

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/protocol"
)

func TestConflictWatchObserve(t *testing.T) {
	on := func(instance string, online bool) protocol.Online {
		return protocol.Online{Online: online, Node: "pi", Instance: instance}
	}
	type msg struct {
		o        protocol.Online
		retained bool
	}
	for _, tc := range []struct {
		name string
		mine string
		msgs []msg
		want string // the other instance, "" for no conflict
	}{
		{"own messages", "aaaa", []msg{{on("aaaa", true), true}, {on("aaaa", false), false}, {on("aaaa", true), false}}, ""},
		{"older agents say no instance", "aaaa", []msg{{on("", true), true}, {on("", false), false}, {on("", true), false}}, ""},
		{"detection off without an instance id", "", []msg{{on("bbbb", true), false}, {on("bbbb", true), false}}, ""},
		{"a previous instance: retained goodbye and the queued will", "aaaa", []msg{{on("bbbb", false), true}, {on("bbbb", false), false}}, ""},
		{"two wills of the other device", "aaaa", []msg{{on("bbbb", false), false}, {on("bbbb", false), false}}, "bbbb"},
		{"retained online and a will", "aaaa", []msg{{on("bbbb", true), true}, {on("aaaa", true), false}, {on("bbbb", false), false}}, "bbbb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := conflictWatch{mine: tc.mine, detected: make(chan struct{})}
			var got string
			for _, m := range tc.msgs {
				if other, now := w.observe(m.o, m.retained); now {
					if got != "" {
						t.Fatal("detected twice")
					}
					got = other
				}
			}
			if got != tc.want || w.otherInstance() != tc.want {
				t.Fatalf("conflict with %q (otherInstance %q), want %q", got, w.otherInstance(), tc.want)
			}
		})
	}
}

// Two devices claim one name (different instance ids) on a real mosquitto:
// both detect it, record a NodeNameConflict event, say so in their online
// message, stop publishing status, and apply no node document any more.
func TestNameConflictBothDetect(t *testing.T) {
	b := startBroker(t, nil)
	dir := t.TempDir()
	type dev struct {
		st *store.Store
		l  *Link
	}
	var devs []dev
	for _, inst := range []string{"aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"} {
		st := openStore(t, filepath.Join(dir, inst+".db"))
		l, err := New(st, testConfig(b.url()), Params{NodeName: "pi", AgentVersion: "test", InstanceID: inst})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Error("link did not stop")
			}
		})
		devs = append(devs, dev{st, l})
	}
	cp := newControlPlane(t, b.url(), "cp", devs[0].l.Topics().Online())
	for i, d := range devs {
		other := devs[1-i].l.p.InstanceID
		eventually(t, 60*time.Second, d.l.p.InstanceID+" detects the conflict", func() bool {
			c := d.l.State().NameConflict
			return c != nil && c.OtherInstance == other
		})
		evs, err := d.st.RecentEvents(context.Background(), "node", 100)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range evs {
			found = found || (e.Reason == ReasonNodeNameConflict && e.Type == "Warning" && strings.Contains(e.Message, other))
		}
		if !found {
			t.Fatalf("%s: no NodeNameConflict event naming %s in %+v", d.l.p.InstanceID, other, evs)
		}
	}
	eventually(t, 60*time.Second, "an online message that says so", func() bool {
		for _, p := range cp.got(devs[0].l.Topics().Online()) {
			var o protocol.Online
			if json.Unmarshal(p, &o) == nil && o.Online && o.NameConflict != "" && o.NameConflict != o.Instance {
				return true
			}
		}
		return false
	})
	reports := []int{devs[0].l.State().Reports.Reports, devs[1].l.State().Reports.Reports}
	// A link not in conflict publishes a full status snapshot at every
	// connection, and a changed one within a status interval: the two
	// devices keep taking their shared MQTT client id over from each other,
	// so two more connections of each give it every chance to.
	for _, d := range devs {
		if err := d.st.PutNodeStatus(context.Background(), []byte(`{"name":"pi","nodeInfo":{"instanceID":"`+d.l.p.InstanceID+`"}}`)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range devs {
		for range 2 {
			last := d.l.State().LastConnect
			eventually(t, 60*time.Second, "a new connection", func() bool { return d.l.State().LastConnect.After(last) })
		}
	}

	// A node document published now is acknowledged and applied by neither.
	cp.publish(devs[0].l.Topics().NodeDesired(), true, testenv.NodeStateDoc(4, "web"))
	eventually(t, 60*time.Second, "the document dropped by a device", func() bool {
		return devs[0].l.State().ConflictDropped+devs[1].l.State().ConflictDropped > 0
	})
	for i, d := range devs {
		if g := generation(t, d.st, store.SourceNode); g != 0 {
			t.Errorf("device %d stored generation %d under a conflicting name", i, g)
		}
		if n := d.l.State().Reports.Reports; n != reports[i] {
			t.Errorf("device %d published %d status reports after the conflict", i, n-reports[i])
		}
	}
}
