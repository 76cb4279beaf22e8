package cni

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestAttached reads host-local's allocation files: one pod ID per address
// (an ID once however many addresses it holds), bookkeeping files skipped.
func TestAttached(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"10.88.0.2":          "pod-a\r\neth0",
		"10.88.0.3":          "pod-b\r\neth0",
		"10.88.0.4":          "pod-a\r\neth1",
		"10.88.0.5":          "pod-c", // before host-local recorded the interface
		"last_reserved_ip.0": "10.88.0.5",
		"lock":               "",
	}
	if err := os.MkdirAll(filepath.Join(dir, NetworkName), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, NetworkName, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n := &Network{cfg: Config{DataDir: dir}}
	got, err := n.Attached()
	slices.Sort(got)
	if err != nil || !slices.Equal(got, []string{"pod-a", "pod-b", "pod-c"}) {
		t.Fatalf("Attached() = %v, %v", got, err)
	}
	if got, err := (&Network{cfg: Config{DataDir: filepath.Join(dir, "none")}}).Attached(); err != nil || len(got) != 0 {
		t.Fatalf("no allocations yet: %v, %v", got, err)
	}
}
