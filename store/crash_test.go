package store

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
)

// crashDoc is the document of generation gen: its pod set changes with gen,
// so a torn write would show as a wrong set or a pod of another generation.
func crashDoc(gen int64) *api.NodeState {
	var names []string
	for i := range 3 + gen%5 {
		names = append(names, fmt.Sprintf("p%02d", (gen+i)%11))
	}
	d := testDoc(gen, names...)
	d.Services = []api.Service{testService(fmt.Sprintf("svc-%d", gen%3))}
	return d
}

// crashChild applies ever newer documents and prints each acknowledged
// generation, until it is killed.
func crashChild(path string) int {
	ctx := context.Background()
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	gens, err := s.Generations(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for gen := gens[SourceNode] + 1; ; gen++ {
		if _, err := s.Apply(ctx, SourceNode, crashDoc(gen)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// os.Stdout is unbuffered: the line is in the pipe when Println returns.
		fmt.Println(gen)
	}
}

// TestCrashDuringApply kills a writer process with SIGKILL at random moments
// and checks that the file opens, passes bbolt's check, and holds exactly the
// document of a generation at least as new as the last one acknowledged.
func TestCrashDuringApply(t *testing.T) {
	const kills = 60
	path := statePath(t)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>7))
	t.Logf("seed %d", seed)
	deadline := time.Now().Add(25 * time.Second)
	var acked int64
	for i := range kills {
		if time.Now().After(deadline) {
			if i < 50 {
				t.Fatalf("only %d kills in the time budget, want at least 50", i)
			}
			break
		}
		last, err := runAndKill(path, time.Duration(5+rng.IntN(56))*time.Millisecond)
		if err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		if last < acked {
			t.Fatalf("kill %d: child acknowledged %d after an earlier %d", i, last, acked)
		}
		acked = last
		checkFile(t, path)
		verifyCrashState(t, path, acked)
		if t.Failed() {
			t.Fatalf("kill %d: state does not match", i)
		}
	}
	t.Logf("last acknowledged generation %d", acked)
}

// runAndKill starts a crash child, lets it run for delay after its first
// acknowledgement, kills it and returns the last generation it acknowledged.
func runAndKill(path string, delay time.Duration) (int64, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=crash", pathEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	acks := make(chan int64, 1024)
	go func() {
		defer close(acks)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			n, err := strconv.ParseInt(sc.Text(), 10, 64)
			if err == nil {
				acks <- n
			}
		}
	}()
	var last int64
	select {
	case n, ok := <-acks:
		if !ok {
			_ = cmd.Wait()
			return 0, fmt.Errorf("child exited before its first acknowledgement")
		}
		last = n
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return 0, fmt.Errorf("no acknowledgement within 30 s")
	}
	time.Sleep(delay)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return 0, err
	}
	for n := range acks { // until EOF: every line written before the kill
		last = n
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return 0, fmt.Errorf("child did not die of SIGKILL: %v", err)
	}
	return last, nil
}

func verifyCrashState(t *testing.T, path string, acked int64) {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	m := mustDesired(t, s)
	gen := m.Generations[SourceNode]
	if gen < acked {
		t.Errorf("stored generation %d is older than acknowledged %d", gen, acked)
	}
	want := crashDoc(gen)
	var wantNames []string
	for _, p := range want.Pods {
		wantNames = append(wantNames, p.Metadata.Name)
	}
	if got := podNames(m); !slices.Equal(got, sorted(wantNames)) {
		t.Errorf("generation %d: pods %v, want %v", gen, got, sorted(wantNames))
	}
	for _, p := range m.Pods {
		i := slices.IndexFunc(want.Pods, func(w api.Pod) bool { return w.Metadata.Name == p.Pod.Metadata.Name })
		if i < 0 {
			continue
		}
		got, _ := json.Marshal(p.Pod)
		exp, _ := json.Marshal(want.Pods[i])
		if string(got) != string(exp) {
			t.Errorf("generation %d: pod %s differs from its document:\n got %s\nwant %s", gen, p.Pod.Metadata.Name, got, exp)
		}
	}
	if len(m.Services) != 1 || m.Services[0].Service.Metadata.Name != want.Services[0].Metadata.Name {
		t.Errorf("generation %d: services %+v, want %s", gen, m.Services, want.Services[0].Metadata.Name)
	}
}
