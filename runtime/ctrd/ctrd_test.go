package ctrd_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime/ctrd"
)

func TestStartWithoutRunc(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := ctrd.Start(context.Background(), ctrd.Config{DataDir: t.TempDir(), StateDir: "/run/outpost-test"})
	if !errors.Is(err, ctrd.ErrRuncNotFound) {
		t.Fatalf("Start without runc = %v, want %v", err, ctrd.ErrRuncNotFound)
	}
	if err.Error() != "runc not found: install the Debian/Ubuntu package runc" {
		t.Errorf("message = %q", err)
	}
}

func TestStartInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  ctrd.Config
	}{
		{"relative data dir", ctrd.Config{DataDir: "data", StateDir: "/run/o"}},
		{"relative state dir", ctrd.Config{DataDir: "/var/lib/o", StateDir: "run/o"}},
		{"long state dir", ctrd.Config{DataDir: "/var/lib/o", StateDir: "/run/outpost/a-state-dir-that-is-much-too-long"}},
		{"same dirs", ctrd.Config{DataDir: "/var/lib/o", StateDir: "/var/lib/o/"}},
		{"relative shim", ctrd.Config{DataDir: "/var/lib/o", StateDir: "/run/o", ShimPath: "outpost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ctrd.Start(context.Background(), tt.cfg)
			if !errors.Is(err, ctrd.ErrInvalidConfig) {
				t.Fatalf("Start = %v, want %v", err, ctrd.ErrInvalidConfig)
			}
		})
	}
}

func TestSecondServerFailsFast(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "runc", "runc")
	data, state := dirs(t)

	t.Run("same process", func(t *testing.T) {
		start(t, data, state)
		other := t.TempDir()
		_, err := ctrd.Start(context.Background(), ctrd.Config{DataDir: other, StateDir: state + "x"})
		if !errors.Is(err, ctrd.ErrInUse) {
			t.Fatalf("second Start = %v, want %v", err, ctrd.ErrInUse)
		}
	})

	t.Run("other process", func(t *testing.T) {
		// The helper holds a server on the dirs until its stdin closes.
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServer$")
		cmd.Env = append(os.Environ(), "CTRD_HELPER_DIRS="+data+":"+state)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("helper: %v", err)
			}
		}()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "ready\n" {
			t.Fatalf("helper said %q, %v", line, err)
		}

		began := time.Now()
		_, err = ctrd.Start(context.Background(), ctrd.Config{DataDir: data, StateDir: state})
		if !errors.Is(err, ctrd.ErrInUse) {
			t.Fatalf("Start on dirs held by another process = %v, want %v", err, ctrd.ErrInUse)
		}
		if d := time.Since(began); d > time.Second {
			t.Errorf("Start took %v to fail", d)
		}
	})
}

// TestHelperServer is the other process of TestSecondServerFailsFast.
func TestHelperServer(t *testing.T) {
	dirs := os.Getenv("CTRD_HELPER_DIRS")
	if dirs == "" {
		t.Skip("helper process only")
	}
	data, state, _ := strings.Cut(dirs, ":")
	s, err := ctrd.Start(context.Background(), ctrd.Config{DataDir: data, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
}

func TestStopAndRestart(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "runc", "runc")
	data, state := dirs(t)
	s := start(t, data, state)
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	s = start(t, data, state)
	if _, err := s.Client().Version(context.Background()); err != nil {
		t.Fatalf("restarted server does not answer: %v", err)
	}
}

func TestConnect(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "runc", "runc")
	data, state := dirs(t)
	s := start(t, data, state)
	c, err := ctrd.Connect(context.Background(), s.Address())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer c.Close()
	if _, err := c.Version(context.Background()); err != nil {
		t.Fatalf("version: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := ctrd.Connect(ctx, state+"/missing.sock"); err == nil {
		t.Fatal("connect to a missing socket succeeded")
	}
}
