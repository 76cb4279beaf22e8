package testenv

import (
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// WaitGoroutine waits (30 s at most) until one goroutine's stack, status
// line included, holds every one of parts: for instance "[sync.Mutex.Lock"
// and the function that waits, to know that a loop is blocked on a lock
// the test holds rather than hoping a sleep was long enough for it.
func WaitGoroutine(t testing.TB, parts ...string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		n := runtime.Stack(buf, true)
		for g := range strings.SplitSeq(string(buf[:n]), "\n\n") {
			if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(g, p) }) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine with %q after 30 s:\n%s", parts, buf[:n])
		}
	}
}
