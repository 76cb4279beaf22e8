package runtime_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/runtime"
	"github.com/outpost-edge/outpost/runtime/logs"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// TestLogRotation: a chatty container's log is rotated at the configured
// size and only the configured number of files is kept.
func TestLogRotation(t *testing.T) {
	e := newEnv(t, func(c *runtime.Config) { c.Logs = logs.Options{MaxSize: 8 << 10, MaxFiles: 3} })
	ctx, events := e.events()
	_, _, started := e.run(pod(t, hostPod("chatty", "i=0; while [ $i -lt 3000 ]; do echo line $i of the chatty container; i=$((i+1)); done")))
	waitExit(t, events, started[0].ID, 30*time.Second)
	if _, err := e.rt.StopContainer(ctx, started[0].ID, time.Second); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(started[0].LogPath + "*")
	if len(files) != 3 {
		t.Fatalf("log files %v, want the live one and 2 rotated", files)
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 8<<10 {
			t.Errorf("%s is %d bytes, over the 8 KiB limit", f, st.Size())
		}
	}
	if log := readLog(t, started[0].LogPath); !strings.Contains(log, "line 2999 of the chatty container") {
		t.Errorf("the live file lacks the last line:\n%s", log)
	}
}

// TestOldAttemptLogsRemoved: starting attempt N of a container removes the
// log files (rotated ones included) of its attempts before N-1, as kubelet
// keeps only the current and the previous attempt; another container's
// logs are left alone.
func TestOldAttemptLogsRemoved(t *testing.T) {
	e := newEnv(t, func(c *runtime.Config) { c.Logs = logs.Options{MaxSize: 4 << 10, MaxFiles: 3} })
	ctx, events := e.events()
	p := pod(t, hostPod("attempts", "i=0; while [ $i -lt 300 ]; do echo line $i of a container that will be restarted; i=$((i+1)); done"))
	side := p.Spec.Containers[0]
	side.Name = "side"
	p.Spec.Containers = append(p.Spec.Containers, side)
	ref, sb, started := e.run(p) // attempt 0 of main and of side
	for _, s := range started {
		waitExit(t, events, s.ID, 30*time.Second)
	}
	for attempt := 1; attempt <= 3; attempt++ {
		// As the agent does: the previous instance goes before the next starts.
		prev := started[0].ID
		if _, err := e.rt.StopContainer(ctx, prev, time.Second); err != nil {
			t.Fatal(err)
		}
		if err := e.rt.RemoveContainer(ctx, prev); err != nil {
			t.Fatal(err)
		}
		s, err := e.rt.StartContainer(ctx, runtimeapi.StartRequest{Pod: p, Ref: ref, Sandbox: sb, Container: &p.Spec.Containers[0], Attempt: attempt})
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		waitExit(t, events, s.ID, 30*time.Second)
		started[0] = s
	}
	if _, err := e.rt.StopContainer(ctx, started[0].ID, time.Second); err != nil {
		t.Fatal(err)
	}
	logFiles := func(container string) []string {
		t.Helper()
		files, err := filepath.Glob(filepath.Join(sb.Dir, "logs", container, "*"))
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range files {
			files[i] = filepath.Base(f)
		}
		return files
	}
	// 300 lines of ~90 bytes rotate a 4 KiB log: every attempt has 3 files.
	tests := []struct {
		container string
		want      []string
	}{
		{"main", []string{"2.log", "2.log.1", "2.log.2", "3.log", "3.log.1", "3.log.2"}},
		{"side", []string{"0.log", "0.log.1", "0.log.2"}},
	}
	for _, tt := range tests {
		if got := logFiles(tt.container); !slices.Equal(got, tt.want) {
			t.Errorf("logs of %s: %v, want %v", tt.container, got, tt.want)
		}
	}
}
