package mqttlink

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
	"github.com/outpost-edge/outpost/sync/protocol"
)

const (
	childEnv  = "OUTPOST_MQTTLINK_TEST_CHILD"
	brokerEnv = "OUTPOST_MQTTLINK_TEST_BROKER"
	pathEnv   = "OUTPOST_MQTTLINK_TEST_PATH"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "link" {
		os.Exit(childLink())
	}
	os.Exit(m.Run())
}

// childLink runs a link until killed; it prints "connected" once it is.
func childLink() int {
	st, err := store.Open(os.Getenv(pathEnv), store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	l, err := New(st, testConfig(os.Getenv(brokerEnv)), Params{NodeName: "child"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	go func() {
		for l.State().State != StateConnected {
			time.Sleep(10 * time.Millisecond)
		}
		fmt.Println("connected")
	}()
	_ = l.Run(ctx)
	return 0
}

func onlineOf(t *testing.T, payload []byte) protocol.Online {
	var o protocol.Online
	if err := json.Unmarshal(payload, &o); err != nil {
		t.Fatalf("online payload %s: %v", payload, err)
	}
	return o
}

// A link that dies without a goodbye is marked offline by its Last Will.
func TestLastWillMarksKilledLinkOffline(t *testing.T) {
	b := startBroker(t, nil)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=link", brokerEnv+"="+b.url(), pathEnv+"="+filepath.Join(t.TempDir(), "state.db"))
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- s.Text()
		}
	}()
	select {
	case l := <-line:
		if l != "connected" {
			t.Fatalf("child said %q", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("child link did not connect")
	}
	topics, _ := protocol.NewTopics("", "child")
	cp := newControlPlane(t, b.url(), "cp", topics.Online())
	eventually(t, 30*time.Second, "online true", func() bool {
		on := cp.got(topics.Online())
		return len(on) > 0 && onlineOf(t, on[len(on)-1]).Online
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	eventually(t, 30*time.Second, "the Last Will", func() bool {
		on := cp.got(topics.Online())
		o := onlineOf(t, on[len(on)-1])
		return !o.Online && o.Reason == "" && o.Node == "child"
	})
}

// After a restart, an event the previous process had handed to the client
// (in the session store, unacknowledged) is resent by the client and not
// again from the outbox; the rest of the outbox follows in order.
func TestRestartResendsInFlightOnce(t *testing.T) {
	ctx := context.Background()
	b := startBroker(t, nil)
	st := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	topics, _ := protocol.NewTopics("", "n1")
	for i := 1; i <= 5; i++ {
		if err := st.RecordEvent(ctx, api.Event{Type: api.EventNormal, Reason: "R", Message: fmt.Sprint(i), Object: "node"}); err != nil {
			t.Fatal(err)
		}
	}
	// The previous process: 1 and 2 acknowledged by the broker (the outbox
	// lost them only once the broker had them), 3 in flight when it died.
	if err := st.Ack(ctx, 2); err != nil {
		t.Fatal(err)
	}
	msgs, _ := st.Peek(ctx, 1)
	payload, err := protocol.EventPayload("n1", 3, msgs[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	p.Qos, p.TopicName, p.MessageID, p.Payload = 1, topics.Events(), 7, payload
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if err := st.SessionPut(ctx, "o.7", buf.Bytes()); err != nil {
		t.Fatal(err)
	}

	cp := newControlPlane(t, b.url(), "cp", topics.Events())
	l, _ := runLink(t, st, testConfig(b.url()), "n1")
	eventually(t, 30*time.Second, "events 3 to 5", func() bool { return len(cp.events(topics.Events())) >= 3 })
	// One more event, sent after all of them: once it is there, a
	// duplicate of an earlier one (the outbox is sent in order, after the
	// session's resends) would be.
	if err := st.RecordEvent(ctx, api.Event{Type: api.EventNormal, Reason: "Marker", Message: "last", Object: "node"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the marker event", func() bool {
		evs := cp.events(topics.Events())
		return len(evs) > 0 && evs[len(evs)-1].Message == "last"
	})
	var got []string
	for _, ev := range cp.events(topics.Events()) {
		got = append(got, fmt.Sprintf("%d:%s", ev.Seq, ev.Message))
	}
	if strings.Join(got, " ") != "3:3 4:4 5:5 6:last" {
		t.Fatalf("events %v, want 3:3 4:4 5:5 once each and the marker 6:last", got)
	}
	eventually(t, 30*time.Second, "session store empty of publishes", func() bool {
		es, _ := st.SessionEntries(ctx)
		for _, e := range es {
			if strings.HasPrefix(e.Key, "o.") {
				return false
			}
		}
		return true
	})
	eventually(t, 30*time.Second, "the outbox drained", func() bool { return l.State().OutboxDepth == 0 })
}

// writeCerts makes a CA, a broker certificate for 127.0.0.1 and a client
// certificate for the node, as PEM files in dir.
func writeCerts(t *testing.T, dir string) (broker tlsFiles, client tlsFiles) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) tlsFiles {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		return tlsFiles{ca: caFile, cert: write(name+".pem", "CERTIFICATE", der), key: write(name+"-key.pem", "EC PRIVATE KEY", kder)}
	}
	return leaf("broker", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)}),
		leaf("n1", 3, x509.ExtKeyUsageClientAuth, nil)
}

// Mutual TLS: the node proves itself with its certificate; without one the
// broker turns it away and the link says why.
func TestMutualTLS(t *testing.T) {
	srv, cli := writeCerts(t, t.TempDir())
	b := startBroker(t, &srv)
	url := fmt.Sprintf("ssl://127.0.0.1:%d", b.tls)

	st := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	cfg := testConfig(url)
	cfg.TLS = TLS{CAFile: cli.ca, CertFile: cli.cert, KeyFile: cli.key}
	l, _ := runLink(t, st, cfg, "n1")
	waitConnected(t, l)
	cp := newControlPlane(t, b.url(), "cp")
	cp.publish(l.Topics().NodeDesired(), true, testenv.NodeStateDoc(4, "a"))
	eventually(t, 30*time.Second, "generation 4 over mTLS", func() bool { return generation(t, st, store.SourceNode) == 4 })

	noCert := testConfig(url)
	noCert.TLS = TLS{CAFile: cli.ca}
	st2 := openStore(t, filepath.Join(t.TempDir(), "other.db"))
	l2, _ := runLink(t, st2, noCert, "n2")
	eventually(t, 30*time.Second, "a refused attempt", func() bool { return l2.State().Failures >= 1 && l2.State().LastError != "" })
	if s := l2.State(); s.State == StateConnected || !strings.Contains(s.LastError, "connect failed") {
		t.Fatalf("state without a client certificate = %+v", s)
	}
}
