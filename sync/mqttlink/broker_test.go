package mqttlink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// broker is a mosquitto the test starts on free loopback ports. Its
// persistence file is saved after every change, so a SIGKILL loses nothing
// the test relies on (retained documents, the subscribers' sessions).
type broker struct {
	t    *testing.T
	bin  string
	dir  string
	port int // plain TCP
	ws   int // websockets
	tls  int // mutual TLS, when tlsConf is set
	conf string
	cmd  *exec.Cmd
	done chan struct{}
}

type tlsFiles struct{ ca, cert, key string }

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startBroker(t *testing.T, tf *tlsFiles) *broker {
	t.Helper()
	b := &broker{t: t, bin: testenv.RequireBinary(t, "mosquitto", "mosquitto"), dir: t.TempDir(), port: freePort(t), ws: freePort(t)}
	var conf strings.Builder
	fmt.Fprintf(&conf, "user root\nper_listener_settings false\nallow_anonymous true\npersistence true\npersistence_location %s/\n", b.dir)
	fmt.Fprintf(&conf, "autosave_interval 1\nautosave_on_changes true\nlog_dest file %s/mosquitto.log\nlog_type all\n", b.dir)
	fmt.Fprintf(&conf, "listener %d 127.0.0.1\nlistener %d 127.0.0.1\nprotocol websockets\n", b.port, b.ws)
	if tf != nil {
		b.tls = freePort(t)
		fmt.Fprintf(&conf, "listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\nuse_identity_as_username true\n",
			b.tls, tf.ca, tf.cert, tf.key)
	}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	if err := os.WriteFile(b.conf, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	b.start()
	t.Cleanup(b.kill)
	return b
}

func (b *broker) url() string { return fmt.Sprintf("tcp://127.0.0.1:%d", b.port) }

func (b *broker) start() {
	b.t.Helper()
	b.cmd = exec.Command(b.bin, "-c", b.conf)
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(b.cmd, b.done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-b.done:
			log, _ := os.ReadFile(filepath.Join(b.dir, "mosquitto.log"))
			b.t.Fatalf("mosquitto exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("mosquitto does not listen on %d", b.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSaved returns once mosquitto's persistence file holds everything the
// broker had before the call: it publishes a retained marker through cp and
// waits for a save (a whole new file, renamed into place) that has it.
func (b *broker) waitSaved(cp *controlPlane) {
	b.t.Helper()
	marker := fmt.Sprintf("saved-%d", time.Now().UnixNano())
	cp.publish("outpost-test/saved", true, []byte(marker))
	eventually(b.t, 30*time.Second, "mosquitto's persistence file with "+marker, func() bool {
		db, err := os.ReadFile(filepath.Join(b.dir, "mosquitto.db"))
		return err == nil && bytes.Contains(db, []byte(marker))
	})
}

// kill is a crash: SIGKILL, no goodbye to anyone.
func (b *broker) kill() {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.done
	b.cmd = nil
}

// controlPlane is a plain paho client playing the control plane.
type controlPlane struct {
	t *testing.T
	c mqtt.Client

	mu   sync.Mutex
	msgs map[string][][]byte // by topic, in arrival order
}

func newControlPlane(t *testing.T, brokerURL, id string, subscribe ...string) *controlPlane {
	t.Helper()
	cp := &controlPlane{t: t, msgs: map[string][][]byte{}}
	opts := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(id).SetCleanSession(false).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(50 * time.Millisecond).
		SetMaxReconnectInterval(200 * time.Millisecond).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			cp.mu.Lock()
			cp.msgs[m.Topic()] = append(cp.msgs[m.Topic()], append([]byte(nil), m.Payload()...))
			cp.mu.Unlock()
		})
	cp.c = mqtt.NewClient(opts)
	waitTok(t, cp.c.Connect())
	if len(subscribe) > 0 {
		f := map[string]byte{}
		for _, s := range subscribe {
			f[s] = 1
		}
		waitTok(t, cp.c.SubscribeMultiple(f, nil))
	}
	t.Cleanup(func() { cp.c.Disconnect(0) })
	return cp
}

func waitTok(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt token: timeout or %v", tok.Error())
	}
}

func (cp *controlPlane) publish(topic string, retain bool, payload []byte) {
	cp.t.Helper()
	waitTok(cp.t, cp.c.Publish(topic, 1, retain, payload))
}

func (cp *controlPlane) got(topic string) [][]byte {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return append([][]byte(nil), cp.msgs[topic]...)
}

// events returns the events received on topic, decoded.
func (cp *controlPlane) events(topic string) []protocol.Event {
	var out []protocol.Event
	for _, p := range cp.got(topic) {
		var ev protocol.Event
		if err := json.Unmarshal(p, &ev); err != nil {
			cp.t.Fatalf("event payload %s: %v", p, err)
		}
		out = append(out, ev)
	}
	return out
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func openStore(t *testing.T, path string, groups ...string) *store.Store {
	t.Helper()
	st, err := store.Open(path, store.Options{Groups: groups})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// testConfig is fast: the tests wait for reconnections.
func testConfig(brokers ...string) Config {
	c := DefaultConfig()
	c.Brokers = brokers
	c.StatusInterval = 50 * time.Millisecond
	c.Heartbeat = 300 * time.Millisecond
	c.KeepAlive = 2 * time.Second
	c.ConnectTimeout = 2 * time.Second
	c.Backoff = Backoff{Min: 50 * time.Millisecond, Max: 400 * time.Millisecond, Reset: time.Second}
	return c
}

// runLink starts a link; the returned stop cancels it and waits for Run.
func runLink(t *testing.T, st *store.Store, cfg Config, node string, groups ...string) (*Link, func()) {
	t.Helper()
	l, err := New(st, cfg, Params{NodeName: node, Groups: groups, AgentVersion: "test"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return l, stop
}

func waitConnected(t *testing.T, l *Link) {
	t.Helper()
	eventually(t, 30*time.Second, "link connected", func() bool { return l.State().State == StateConnected })
}
