package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/internal/testenv"
)

// notifySocket is a NOTIFY_SOCKET as systemd's, with a 200 ms watchdog.
func notifySocket(t *testing.T) *net.UnixConn {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "")
	os.Unsetenv("WATCHDOG_PID")
	return conn
}

// notifications reads what arrives within d.
func notifications(conn *net.UnixConn, d time.Duration) []string {
	var got []string
	conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 256)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return got
		}
		got = append(got, string(buf[:n]))
	}
}

// TestNotify: READY=1 and WATCHDOG=1 reach a NOTIFY_SOCKET as systemd's.
func TestNotify(t *testing.T) {
	conn := notifySocket(t)
	notifyReady(zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watchdog(ctx, []healthCheck{{"ok", func(context.Context) error { return nil }}}, zerolog.Nop())
	var got []string
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 256)
	for len(got) < 2 {
		n, err := conn.Read(buf)
		if err != nil {
			break
		}
		got = append(got, string(buf[:n]))
	}
	if len(got) < 2 || got[0] != "READY=1" || got[1] != "WATCHDOG=1" {
		t.Fatalf("notifications %q", strings.Join(got, ", "))
	}
}

// TestWatchdogStopsWhenLoopStuck: a loop that stops answering (stuck on a
// lock) stops the pings although the other checks (containerd) pass, and
// they come back when it does.
func TestWatchdogStopsWhenLoopStuck(t *testing.T) {
	conn := notifySocket(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A loop in the agent's manner: it answers pings between steps, and a
	// step takes the lock.
	var mu sync.Mutex
	pings := make(chan struct{})
	steps := 0
	go func() {
		for {
			mu.Lock()
			steps++ // the step
			mu.Unlock()
			select {
			case <-pings:
			case <-ctx.Done():
				return
			}
		}
	}()
	var unanswered atomic.Int32
	ping := func(ctx context.Context) error {
		select {
		case pings <- struct{}{}:
			return nil
		case <-ctx.Done():
			unanswered.Add(1)
			return ctx.Err()
		}
	}
	containerd := func(context.Context) error { return nil }
	go watchdog(ctx, []healthCheck{{"containerd", containerd}, {"reconcile loop", ping}}, zerolog.Nop())

	waitPing := func() {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			for _, n := range notifications(conn, time.Second) {
				if n == "WATCHDOG=1" {
					return
				}
			}
		}
		t.Fatal("no WATCHDOG=1")
	}
	waitUnanswered := func(n int32) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); unanswered.Load() < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d pings unanswered after 30 s, want %d", unanswered.Load(), n)
			}
		}
	}
	waitPing()
	mu.Lock()
	// The loop is stuck once it waits for the lock. Rounds of the watchdog
	// follow each other: once one found the loop stuck, what the rounds
	// before it sent is queued, and is dropped.
	testenv.WaitGoroutine(t, "[sync.Mutex.Lock", "TestWatchdogStopsWhenLoopStuck.func")
	waitUnanswered(unanswered.Load() + 1)
	notifications(conn, 10*time.Millisecond)
	// Two more rounds, and not a ping from them.
	waitUnanswered(unanswered.Load() + 2)
	if got := notifications(conn, 10*time.Millisecond); len(got) > 0 {
		mu.Unlock()
		t.Fatalf("%d notifications with the loop stuck: %q", len(got), got)
	}
	mu.Unlock()
	waitPing()
}

// TestProgress: a step that came back lately passes, one that did not for
// longer than max fails.
func TestProgress(t *testing.T) {
	p := newProgress(time.Hour)
	if err := p.check(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.at.Store(time.Now().Add(-2 * time.Hour).UnixNano())
	if err := p.check(context.Background()); err == nil {
		t.Fatal("a step stuck for 2h passed")
	}
	p.done()
	if err := p.check(context.Background()); err != nil {
		t.Fatal(err)
	}
}
