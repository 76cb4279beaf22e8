// Package mqtttest gives tests and benchmarks a real mosquitto on a free
// loopback port, and a counting TCP relay to put between a client and it.
// Like net/http/httptest it is imported by tests only. Where mosquitto is
// not installed the caller is skipped, or failed under CI=true
// (internal/testenv).
//
// It owns the broker processes it starts: each is killed, and its
// directory removed, when the test ends.
package mqtttest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"
)

// Options shape the broker's configuration.
type Options struct {
	// Persist saves retained messages and sessions after every change, so a
	// SIGKILL loses nothing a test relies on. Too slow for a fleet of
	// hundreds of clients: off by default.
	Persist bool
	// Extra lines appended to mosquitto.conf (before the listener).
	Extra []string
}

// Broker is one mosquitto process on 127.0.0.1:Port.
type Broker struct {
	tb   testing.TB
	bin  string
	Dir  string
	Port int
	conf string
	cmd  *exec.Cmd
	done chan struct{}
}

// FreePort returns a loopback TCP port nobody listens on right now.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts mosquitto and waits until it listens.
func Start(tb testing.TB, opts Options) *Broker {
	tb.Helper()
	b := &Broker{tb: tb, bin: testenv.RequireBinary(tb, "mosquitto", "mosquitto"), Dir: tb.TempDir(), Port: FreePort(tb)}
	var conf strings.Builder
	// user root: mosquitto started by root would otherwise drop to the
	// mosquitto user and could not write its temp dir.
	fmt.Fprintf(&conf, "user root\nallow_anonymous true\nmax_connections -1\nlog_dest file %s/mosquitto.log\n", b.Dir)
	fmt.Fprintf(&conf, "log_type error\nlog_type warning\nlog_type notice\nlog_type information\nconnection_messages true\n")
	if opts.Persist {
		fmt.Fprintf(&conf, "persistence true\npersistence_location %s/\nautosave_interval 1\nautosave_on_changes true\n", b.Dir)
	}
	for _, l := range opts.Extra {
		conf.WriteString(l + "\n")
	}
	fmt.Fprintf(&conf, "listener %d 127.0.0.1\n", b.Port)
	b.conf = filepath.Join(b.Dir, "mosquitto.conf")
	if err := os.WriteFile(b.conf, []byte(conf.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	b.Restart()
	tb.Cleanup(b.Kill)
	return b
}

// URL is the broker's tcp:// URL.
func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// Addr is host:port.
func (b *Broker) Addr() string { return fmt.Sprintf("127.0.0.1:%d", b.Port) }

// Restart starts the broker again on the same port (after Kill) and waits
// until it listens.
func (b *Broker) Restart() {
	b.tb.Helper()
	if b.cmd != nil {
		b.tb.Fatal("mqtttest: broker already running")
	}
	cmd := exec.Command(b.bin, "-c", b.conf)
	if err := cmd.Start(); err != nil {
		b.tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	b.cmd, b.done = cmd, done
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			b.cmd = nil
			b.tb.Fatalf("mosquitto exited at start:\n%s", b.Log())
		default:
		}
		if time.Now().After(deadline) {
			b.tb.Fatalf("mosquitto does not listen on %d:\n%s", b.Port, b.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill is a crash: SIGKILL, no goodbye to any client.
func (b *Broker) Kill() {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.done
	b.cmd = nil
}

// Log is mosquitto's log so far.
func (b *Broker) Log() string {
	data, _ := os.ReadFile(filepath.Join(b.Dir, "mosquitto.log"))
	return string(data)
}
