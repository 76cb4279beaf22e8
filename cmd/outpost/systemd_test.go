package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestNotify: READY=1 and WATCHDOG=1 reach a NOTIFY_SOCKET as systemd's.
func TestNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "")
	os.Unsetenv("WATCHDOG_PID")
	notifyReady(zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	go watchdog(ctx, func(context.Context) error { return nil }, zerolog.Nop())
	var got []string
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 256)
	for len(got) < 3 {
		n, err := conn.Read(buf)
		if err != nil {
			break
		}
		got = append(got, string(buf[:n]))
	}
	cancel()
	if len(got) < 2 || got[0] != "READY=1" || got[1] != "WATCHDOG=1" {
		t.Fatalf("notifications %q", strings.Join(got, ", "))
	}
}
