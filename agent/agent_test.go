package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/internal/testenv"
)

const crashPod = `apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  containers: [{name: c, image: 'img:1'}]
`

func waiting(reason string) func(api.PodStatus) bool {
	return func(s api.PodStatus) bool {
		return len(s.ContainerStatuses) == 1 && s.ContainerStatuses[0].State.Waiting != nil &&
			s.ContainerStatuses[0].State.Waiting.Reason == reason
	}
}

// TestCrashLoopBackoff: a crashing container restarts at once, then after
// 10 s, 20 s, 40 s... reported as CrashLoopBackOff while it waits.
func TestCrashLoopBackoff(t *testing.T) {
	h := newHarness(t)
	h.apply(crashPod)
	starts := h.waitStarts(1)
	h.rt.exit(starts[0], 1)
	starts = h.waitStarts(2) // the first restart is immediate
	for i, wait := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second} {
		h.rt.exit(starts[len(starts)-1], 1)
		st := h.status("crash", func(s api.PodStatus) bool {
			return waiting("CrashLoopBackOff")(s) && int(s.ContainerStatuses[0].RestartCount) == i+1
		})
		if cs := st.ContainerStatuses[0]; cs.LastState.Terminated == nil || cs.LastState.Terminated.ExitCode != 1 || int(cs.RestartCount) != i+1 {
			t.Fatalf("status while backing off (restart %d): %+v last %+v", i, cs, cs.LastState.Terminated)
		}
		// The worker has taken the exit and sleeps until its backoff ends.
		h.waitTimer(h.clock.Now().Add(wait))
		h.clock.Advance(wait - time.Second)
		if n := len(h.rt.startList()); n != len(starts) {
			t.Fatalf("restart %d came before its %v backoff", i+2, wait)
		}
		h.clock.Advance(time.Second)
		starts = h.waitStarts(len(starts) + 1)
	}
	st := h.status("crash", func(s api.PodStatus) bool { return s.ContainerStatuses[0].State.Running != nil })
	if st.ContainerStatuses[0].RestartCount != 4 || st.Phase != api.PodRunning {
		t.Fatalf("after 4 restarts: %+v", st)
	}
}

// TestRestartPolicies: OnFailure restarts failures only, Never nothing.
func TestRestartPolicies(t *testing.T) {
	tests := []struct {
		policy  string
		code    int32
		restart bool
		phase   string
	}{
		{api.RestartOnFailure, 0, false, api.PodSucceeded},
		{api.RestartOnFailure, 2, true, api.PodRunning},
		{api.RestartNever, 2, false, api.PodFailed},
		{api.RestartNever, 0, false, api.PodSucceeded},
		{api.RestartAlways, 0, true, api.PodRunning},
	}
	for _, tt := range tests {
		t.Run(tt.policy+"/"+string(rune('0'+tt.code)), func(t *testing.T) {
			h := newHarness(t)
			h.apply(strings.Replace(crashPod, "spec:\n", "spec:\n  restartPolicy: "+tt.policy+"\n", 1))
			starts := h.waitStarts(1)
			h.rt.exit(starts[0], tt.code)
			if tt.restart {
				h.waitStarts(2)
			}
			// The status is published at the end of the sync that took the
			// exit, which is where a restart would have been made.
			h.status("crash", func(s api.PodStatus) bool { return s.Phase == tt.phase })
			if !tt.restart && len(h.rt.startList()) != 1 {
				t.Fatalf("restarted under %s after exit %d", tt.policy, tt.code)
			}
		})
	}
}

// TestInitContainersInOrder: init containers run one at a time, in order,
// each to completion, before the containers start.
func TestInitContainersInOrder(t *testing.T) {
	h := newHarness(t)
	h.apply(`apiVersion: v1
kind: Pod
metadata: {name: init}
spec:
  initContainers: [{name: first, image: 'img:1'}, {name: second, image: 'img:1'}]
  containers: [{name: main, image: 'img:1'}, {name: side, image: 'img:1'}]
`)
	starts := h.waitStarts(1)
	if !strings.Contains(starts[0], "-first-") {
		t.Fatalf("first start %s", starts[0])
	}
	// Published at the end of the sync that started the first one, where
	// the second would have been started too.
	h.status("init", func(s api.PodStatus) bool {
		return s.Phase == api.PodPending && len(s.InitContainerStatuses) == 2 && s.InitContainerStatuses[0].State.Running != nil
	})
	if len(h.rt.startList()) != 1 {
		t.Fatal("second init container started before the first completed")
	}
	h.rt.exit(starts[0], 0)
	starts = h.waitStarts(2)
	if !strings.Contains(starts[1], "-second-") {
		t.Fatalf("second start %s", starts[1])
	}
	h.rt.exit(starts[1], 0)
	starts = h.waitStarts(4)
	if got := strings.Join(starts[2:], " "); !strings.Contains(got, "-main-") || !strings.Contains(got, "-side-") {
		t.Fatalf("containers started after the init containers: %s", got)
	}
	st := h.status("init", func(s api.PodStatus) bool { return s.Phase == api.PodRunning })
	if st.Conditions[0].Type != api.PodInitialized || st.Conditions[0].Status != api.ConditionTrue {
		t.Fatalf("conditions %+v", st.Conditions)
	}
}

// TestSpecChangeRecreatesOnlyThatPod and re-delivery changes nothing.
func TestSpecChangeRecreatesOnlyThatPod(t *testing.T) {
	h := newHarness(t)
	two := crashPod + "---\n" + strings.Replace(crashPod, "name: crash", "name: other", 1)
	h.apply(two)
	h.waitStarts(2)
	crash := h.status("crash", func(api.PodStatus) bool { return true }).UID[:4]
	other := h.status("other", func(api.PodStatus) bool { return true }).UID[:4]

	// The same document again, next generation, with a third pod: once
	// that starts, the agent has handed both pods their re-delivered spec.
	three := two + "---\n" + strings.Replace(crashPod, "name: crash", "name: third", 1)
	h.apply(three)
	h.waitStarts(3)
	// Each worker takes it at the latest in the sync that follows an exit:
	// a restart (attempt 1) shows it changed nothing, a recreation would
	// have started attempt 0 in a new sandbox.
	h.rt.exit(crash+"-c-0", 1)
	h.rt.exit(other+"-c-0", 1)
	starts := h.waitStarts(5)
	if got := starts[3:]; !slices.Contains(got, crash+"-c-1") || !slices.Contains(got, other+"-c-1") {
		t.Fatalf("a re-delivered document recreated containers: starts %v", starts)
	}

	h.apply(strings.Replace(three, "img:1", "img:2", 1)) // only "crash" changes
	starts = h.waitStarts(6)
	if starts[5] != crash+"-c-0" {
		t.Fatalf("starts %v", starts)
	}
	// other's worker has its copy of that generation; its next exit (its
	// second: a 10 s backoff) shows whether it took it for a change.
	h.rt.exit(other+"-c-1", 1)
	h.waitTimer(h.clock.Now().Add(10 * time.Second))
	if got := h.rt.startList(); len(got) != 6 {
		t.Fatalf("starts %v: other was recreated", got)
	}
	// The old sandbox goes with its logs: the new spec's attempts count
	// from 0 again and must not be shadowed by the old spec's.
	uid := h.status("crash", func(api.PodStatus) bool { return true }).UID
	h.rt.mu.Lock()
	defer h.rt.mu.Unlock()
	if want := []removedPod{{uid, false}}; !slices.Equal(h.rt.removedPods, want) {
		t.Fatalf("RemovePod calls %+v, want %+v", h.rt.removedPods, want)
	}
}

// TestAdmission: a pod that does not fit is reported FailedAdmission with
// the admission's reason and never started; the other pods are unaffected.
func TestAdmission(t *testing.T) {
	h := newHarnessWith(t, func(o *Options) {
		o.Admit = func(pod *api.Pod, _ []*api.Pod) (bool, string, string) {
			if pod.Metadata.Name == "huge" {
				return false, "OutOfmemory", "Node didn't have enough resource: memory"
			}
			return true, "", ""
		}
	})
	h.apply(crashPod + "---\n" + strings.Replace(crashPod, "name: crash", "name: huge", 1))
	st := h.status("huge", func(s api.PodStatus) bool { return s.Phase == api.PodFailed })
	if st.Reason != "OutOfmemory" || !strings.Contains(st.Message, "memory") {
		t.Fatalf("status %+v", st)
	}
	// huge's status above came from the sync that rejected it; only its
	// readmission time (5 minutes on a clock that stands still) could
	// start it.
	starts := h.waitStarts(1)
	if len(h.rt.startList()) != 1 || strings.Contains(starts[0], "huge") {
		t.Fatalf("starts %v", h.rt.startList())
	}
	evs, _ := h.st.RecentEvents(context.Background(), "pod/huge", 10)
	if len(evs) == 0 || evs[len(evs)-1].Reason != ReasonFailedAdmission {
		t.Fatalf("events %+v", evs)
	}
}

// TestInstantExit: an exit that arrives before StartContainer returns is
// not lost.
func TestInstantExit(t *testing.T) {
	code := int32(3)
	h := newHarness(t)
	h.rt.exitAtOnce = &code
	// The agent sees the exit first: its loop took the event and then
	// came round to answer a ping, so the exit was dispatched before
	// the worker knows the container's ID.
	h.rt.exitSeen = func() {
		for deadline := time.Now().Add(30 * time.Second); len(h.rt.events) > 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Error("the agent's loop never took the exit event")
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.a.Ping(ctx); err != nil {
			t.Error(err)
		}
	}
	h.apply(strings.Replace(crashPod, "spec:\n", "spec:\n  restartPolicy: Never\n", 1))
	st := h.status("crash", func(s api.PodStatus) bool { return s.Phase == api.PodFailed })
	if ts := st.ContainerStatuses[0].State.Terminated; ts == nil || ts.ExitCode != 3 {
		t.Fatalf("status %+v", st.ContainerStatuses[0])
	}
}

// TestFinishedPodsReleaseAdmission: a pod that has ended (Succeeded or
// Failed under restartPolicy Never) no longer counts against the node: a
// new pod is admitted in its place, and the evictor no longer sees it.
func TestFinishedPodsReleaseAdmission(t *testing.T) {
	for _, code := range []int32{0, 1} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			h := newHarnessWith(t, func(o *Options) {
				o.Admit = func(_ *api.Pod, admitted []*api.Pod) (bool, string, string) {
					if len(admitted) >= 1 { // maxPods: 1
						return false, "OutOfpods", "Node didn't have enough resource: pods"
					}
					return true, "", ""
				}
			})
			once := strings.Replace(crashPod, "spec:\n", "spec:\n  restartPolicy: Never\n", 1)
			h.apply(once)
			starts := h.waitStarts(1)
			h.rt.exit(starts[0], code)
			phase := map[int32]string{0: api.PodSucceeded, 1: api.PodFailed}[code]
			h.status("crash", func(s api.PodStatus) bool { return s.Phase == phase })
			for deadline := time.Now().Add(waitFor); len(h.a.Admitted()) != 0; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the finished pod is still admitted: %+v", h.a.Admitted())
				}
			}

			h.apply(once + "---\n" + strings.Replace(crashPod, "name: crash", "name: next", 1))
			starts = h.waitStarts(2)
			if !strings.Contains(starts[1], "-c-0") {
				t.Fatalf("starts %v", starts)
			}
			h.status("next", func(s api.PodStatus) bool { return s.Phase == api.PodRunning })
			adm := h.a.Admitted()
			if len(adm) != 1 || adm[0].Pod.Metadata.Name != "next" {
				t.Fatalf("admitted %+v, want only next", adm)
			}
			if st := h.status("crash", func(api.PodStatus) bool { return true }); st.Phase != phase {
				t.Fatalf("the finished pod: %+v", st)
			}
		})
	}
}

// TestAttemptsContinueAfterKeptLogs: a pod whose containers went but whose
// logs were kept (a drain) starts them again after its last logged attempt,
// so that `outpost logs` (the highest attempt) shows the new one and not
// the old, and the restart count follows.
func TestAttemptsContinueAfterKeptLogs(t *testing.T) {
	h := newHarness(t)
	h.rt.podsDir = t.TempDir()
	h.apply(strings.Replace(crashPod, "containers:", "initContainers: [{name: init, image: 'img:1'}]\n  containers:", 1))
	h.waitStarts(1)
	uid := h.status("crash", func(api.PodStatus) bool { return true }).UID

	// A drain: the agent stops, the containers go, the logs stay.
	h.stop()
	h.rt.mu.Lock()
	for id := range h.rt.ctrs {
		delete(h.rt.ctrs, id)
	}
	h.rt.mu.Unlock()
	logs := filepath.Join(h.rt.podsDir, uid, "logs")
	for _, f := range []string{"init/0.log", "c/5.log", "c/6.log", "c/6.log.1", "c/junk", "c/07.log"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(logs, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(logs, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.run()
	starts := h.waitStarts(2)
	if !strings.HasSuffix(starts[1], "-init-1") {
		t.Fatalf("the init container started as %s, want attempt 1", starts[1])
	}
	h.rt.exit(starts[1], 0)
	starts = h.waitStarts(3)
	if !strings.HasSuffix(starts[2], "-c-7") {
		t.Fatalf("the container started as %s, want attempt 7", starts[2])
	}
	st := h.status("crash", func(s api.PodStatus) bool {
		return s.Phase == api.PodRunning && s.ContainerStatuses[0].State.Running != nil
	})
	if rc := st.ContainerStatuses[0].RestartCount; rc != 7 {
		t.Fatalf("restart count %d, want 7", rc)
	}
	// Its next restart goes on from there.
	h.rt.exit(starts[2], 1)
	starts = h.waitStarts(4)
	if !strings.HasSuffix(starts[3], "-c-8") {
		t.Fatalf("restarted as %s, want attempt 8", starts[3])
	}
}

// TestPingNeedsTheLoop: Ping answers while the reconcile loop turns, and
// not while it is stuck in a reconcile (here on the agent's lock).
func TestPingNeedsTheLoop(t *testing.T) {
	h := newHarness(t)
	<-h.a.Ready()
	ping := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return h.a.Ping(ctx)
	}
	if err := ping(30 * time.Second); err != nil {
		t.Fatalf("Ping of a running loop: %v", err)
	}
	h.a.mu.Lock()
	h.apply(crashPod) // the loop wakes and waits for the lock
	// Stuck for sure: its goroutine waits for the lock the test holds.
	testenv.WaitGoroutine(t, "[sync.Mutex.Lock", "agent.(*Agent).reconcile(", "agent.(*Agent).Run(")
	err := ping(300 * time.Millisecond)
	h.a.mu.Unlock()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping of a stuck loop = %v, want DeadlineExceeded", err)
	}
	if err := ping(30 * time.Second); err != nil {
		t.Fatalf("Ping after the loop came unstuck: %v", err)
	}
}
