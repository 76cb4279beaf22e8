package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/runtime"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

func TestExec(t *testing.T) {
	e := newEnv(t, nil)
	_, _, started := e.run(pod(t, hostPod("exec", "echo ready; sleep 3600")+"    env: [{name: GREETING, value: hello}]\n"))
	id := started[0].ID
	ctx := context.Background()
	tests := []struct {
		name   string
		req    runtimeapi.ExecRequest
		code   int
		stdout string
	}{
		{"env and exit code", runtimeapi.ExecRequest{Cmd: []string{"sh", "-c", "echo $GREETING; exit 4"}}, 4, "hello\n"},
		{"stdin to EOF", runtimeapi.ExecRequest{Cmd: []string{"cat"}, Stdin: strings.NewReader("piped\n")}, 0, "piped\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tt.req.Stdout = &out
			code, err := e.rt.Exec(ctx, id, tt.req)
			if err != nil || code != tt.code || out.String() != tt.stdout {
				t.Fatalf("Exec = %d, %v, stdout %q; want %d, %q", code, err, out.String(), tt.code, tt.stdout)
			}
		})
	}
	t.Run("timeout kills", func(t *testing.T) {
		tctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		began := time.Now()
		_, err := e.rt.Exec(tctx, id, runtimeapi.ExecRequest{Cmd: []string{"sleep", "30"}})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(began) > 20*time.Second { // sleep 30 was not left to run
			t.Fatalf("err = %v after %v", err, time.Since(began))
		}
	})
	t.Run("missing container", func(t *testing.T) {
		if _, err := e.rt.Exec(ctx, "nope", runtimeapi.ExecRequest{Cmd: []string{"true"}}); !errors.Is(err, runtime.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	})
}
