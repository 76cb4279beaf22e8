package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/internal/testenv"
)

func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatal("no RssFile")
	return 0
}

// TestDropColdPages: the binary's own pages leave the resident set.
func TestDropColdPages(t *testing.T) {
	before := rssFileKB(t)
	if dropColdPages() == 0 {
		testenv.Skip(t, "madvise(MADV_PAGEOUT) unsupported (Linux before 5.4)")
	}
	after := rssFileKB(t)
	t.Logf("file-backed resident memory %d kB -> %d kB", before, after)
	if after >= before {
		t.Fatalf("file-backed resident memory did not shrink: %d kB -> %d kB", before, after)
	}
}
