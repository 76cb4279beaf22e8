package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/outpost-edge/outpost/agent/identity"
	"github.com/outpost-edge/outpost/agent/localapi"
	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// status reads `outpost status -o json`, waiting until the node status is in.
func (n *node) status() localapi.StatusView {
	n.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := n.cli("status", "-o", "json")
		var v localapi.StatusView
		if err == nil {
			if err = json.Unmarshal([]byte(out), &v); err == nil && v.Node.Status != nil {
				return v
			}
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("outpost status: %v: %s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestE2EIdentity: with nodeName auto, the agent names itself by the rule,
// creates its key pair and instance id at first start (mode 0600 under the
// data dir), reports both in its node status, and keeps them across a
// restart.
func TestE2EIdentity(t *testing.T) {
	n := newNode(t)
	n.replaceConfig("nodeName: e2e\n", "nodeName: auto\nnodeNamePrefix: e2e\n")
	n.start()
	first := n.status()
	for _, f := range []string{identity.KeyFile, identity.InstanceIDFile} {
		fi, err := os.Stat(filepath.Join(n.data, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v (want mode 0600)", f, err)
		}
	}
	id, err := identity.Load(n.data, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	info := first.Node.Status.NodeInfo
	if info.InstanceID != id.InstanceID || info.PublicKey != id.PublicKey() {
		t.Fatalf("reported instance %q key %q; the data dir holds %q %q", info.InstanceID, info.PublicKey, id.InstanceID, id.PublicKey())
	}
	host, _ := os.Hostname()
	want := identity.NodeName(identity.Machine{Root: os.DirFS("/"), Hostname: host}, "auto", "e2e", id.InstanceID)
	if first.Node.Name != want.Name {
		t.Fatalf("node name %q, want %q (from %s)", first.Node.Name, want.Name, want.Source)
	}
	if out, _ := n.cli("status"); !strings.Contains(out, "instance "+id.InstanceID) {
		t.Fatalf("outpost status does not show the instance id:\n%s", out)
	}
	n.stop()
	n.start()
	if again := n.status().Node.Status.NodeInfo; again.InstanceID != info.InstanceID || again.PublicKey != info.PublicKey {
		t.Fatalf("after a restart: instance %q key %q, before %q %q", again.InstanceID, again.PublicKey, info.InstanceID, info.PublicKey)
	}
}

// impersonate connects to the broker in the agent's network namespace as
// another device configured with the same node name would: client id e2e
// (taking the agent's connection over), its own instance id, and its
// retained online message.
func (n *node) impersonate(port int, instance string) error {
	ns, err := n.netns()
	if err != nil {
		return err
	}
	online, _ := json.Marshal(protocol.Online{Online: true, Node: "e2e", Instance: instance})
	opts := mqtt.NewClientOptions().AddBroker("tcp://127.0.0.1:" + strconv.Itoa(port)).SetClientID("e2e").
		SetConnectTimeout(5 * time.Second).
		SetCustomOpenConnectionFn(func(uri *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			var c net.Conn
			err := ns.Do(func() (err error) { c, err = net.DialTimeout("tcp", uri.Host, 5*time.Second); return err })
			return c, err
		})
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Publish("outpost/v1/nodes/e2e/online", 1, true, online); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("publish: %v", tok.Error())
	}
	return nil
}

// TestE2ENodeNameConflict: another device takes the agent's name on the
// broker (its client id and online message, another instance id). The
// agent detects it, says so in outpost status (condition NodeNameConflict),
// in its events and in its online message (outpostctl get nodes), keeps its
// pod running, and applies no document sent to the name.
func TestE2ENodeNameConflict(t *testing.T) {
	n := newNode(t)
	const port = 1883 // the agent's own network namespace: nothing else listens there
	n.brokerInAgentNet(port)
	n.appendConfig(fmt.Sprintf("mqtt: {brokers: [\"tcp://127.0.0.1:%d\"], backoff: {min: 100ms, max: 1s, reset: 10s}}\n", port))
	n.manifest("web.yaml", httpdPod("web", "web"))
	n.start()
	waitRunning := func() {
		eventually(t, 60*time.Second, "web running", func() error {
			p, err := n.pod("web")
			if err == nil && p.Phase != api.PodRunning {
				err = fmt.Errorf("phase %s", p.Phase)
			}
			return err
		})
	}
	waitRunning()
	eventually(t, 30*time.Second, "the node online", func() error {
		if on, err := n.online(port); err != nil || !on.Online {
			return fmt.Errorf("online %+v: %v", on, err)
		}
		return nil
	})
	const other = "ffffffffffffffff"
	// Each takeover makes the agent reconnect and read the online topic
	// again (with a clean session, the impersonator's connection discards
	// the agent's session: the agent subscribes anew and gets the retained
	// message of the other instance).
	eventually(t, 90*time.Second, "the agent reports NodeNameConflict", func() error {
		if err := n.impersonate(port, other); err != nil {
			return err
		}
		v := n.status()
		if v.Node.Status == nil || !hasCondition(v.Node.Status.Conditions, api.NodeNameConflict, api.ConditionTrue) {
			return fmt.Errorf("no NodeNameConflict=True condition (link %s)", v.Link.State)
		}
		return nil
	})
	if out, err := n.cli("status"); err != nil || !strings.Contains(out, "NodeNameConflict:") || !strings.Contains(out, other) {
		t.Fatalf("outpost status does not say it plainly: %v\n%s", err, out)
	}
	eventually(t, 30*time.Second, "outpostctl get nodes shows the conflict", func() error {
		out, err := n.ctl(port, "get", "nodes")
		if err != nil || !strings.Contains(out, "NameConflict") || !strings.Contains(out, other) {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	waitRunning()
	n.stop()
	evs := storedNodeEvents(t, filepath.Join(n.data, "state.db"))
	if !slices.ContainsFunc(evs, func(e api.Event) bool {
		return e.Reason == api.NodeNameConflict && e.Type == api.EventWarning && strings.Contains(e.Message, other)
	}) {
		t.Errorf("no NodeNameConflict event naming %s: %+v", other, evs)
	}
}
