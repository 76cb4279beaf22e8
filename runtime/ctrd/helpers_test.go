package ctrd_test

import (
	"bufio"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime/ctrd"
	"github.com/rs/zerolog"
)

// dirs returns a data dir in t.TempDir() and a state dir short enough for
// shim sockets (t.TempDir() paths carry the test name and are too long).
func dirs(t *testing.T) (data, state string) {
	t.Helper()
	data = t.TempDir()
	state = testenv.StateDir(t, "ctrd")
	t.Cleanup(func() {
		assertNoMounts(t, data, state)
		os.RemoveAll(state)
	})
	return data, state
}

// requireContainers skips unless the machine can run containers.
func requireContainers(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "runc", "runc")
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

// start starts a server and stops it at the end of the test.
func start(t *testing.T, data, state string) *ctrd.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	s, err := ctrd.Start(ctx, ctrd.Config{DataDir: data, StateDir: state, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Logf("embedded containerd ready in %v", time.Since(began))
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

// assertNoMounts fails when a mount is left under one of dirs.
func assertNoMounts(t *testing.T, dirs ...string) {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		for _, d := range dirs {
			if strings.HasPrefix(fields[4], d+"/") || fields[4] == d {
				t.Errorf("mount left behind: %s", fields[4])
			}
		}
	}
}

func requireBusybox(t *testing.T) {
	t.Helper()
	testenv.Skip(t, "static busybox not found (Debian package busybox-static)")
}
