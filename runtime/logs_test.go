package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/runtime"
	"github.com/outpost-edge/outpost/runtime/logs"
)

// TestLogRotation: a chatty container's log is rotated at the configured
// size and only the configured number of files is kept.
func TestLogRotation(t *testing.T) {
	e := newEnv(t, func(c *runtime.Config) { c.Logs = logs.Options{MaxSize: 8 << 10, MaxFiles: 3} })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := e.rt.Events(ctx)
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
