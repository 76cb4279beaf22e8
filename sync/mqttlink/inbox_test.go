package mqttlink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/store"
)

// appliedEvents counts the DocumentApplied events of src in the store.
func appliedEvents(t *testing.T, st *store.Store, src store.Source) int {
	t.Helper()
	evs, err := st.RecentEvents(context.Background(), "source/"+string(src), 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Reason == "DocumentApplied" {
			n++
		}
	}
	return n
}

// A burst of documents for one source is applied as the newest of those
// waiting, not one by one; every message is acknowledged.
func TestBurstAppliesNewest(t *testing.T) {
	b := startBroker(t, nil)
	st := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	l, _ := runLink(t, st, testConfig(b.url()), "n1")
	tp := l.Topics()
	cp := newControlPlane(t, b.url(), "cp")
	waitConnected(t, l)

	const n = 300
	for gen := int64(1); gen <= n; gen++ {
		// Not waiting for each PUBACK: a control plane's burst.
		cp.c.Publish(tp.NodeDesired(), 1, true, testenv.NodeStateDoc(gen, fmt.Sprintf("p%d", gen)))
	}
	eventually(t, 60*time.Second, "the last generation stored", func() bool { return generation(t, st, store.SourceNode) == n })
	eventually(t, 30*time.Second, "every document acknowledged", func() bool { return inboundPending(t, st) == 0 })
	applied := appliedEvents(t, st, store.SourceNode)
	t.Logf("%d documents, %d applied", n, applied)
	if applied >= n {
		t.Fatalf("%d of %d documents applied one by one, want the newest pending only", applied, n)
	}
	m, err := st.Desired(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Pods) != 1 || m.Pods[0].Pod.Metadata.Name != fmt.Sprintf("p%d", n) {
		t.Fatalf("pods %+v, want only p%d", m.Pods, n)
	}
}

// mountTiny mounts a tmpfs of size bytes at a new directory and returns it;
// it is unmounted when the test ends, after what the test opened there is
// closed (cleanups run last first).
func mountTiny(t *testing.T, size int) string {
	t.Helper()
	testenv.RequireRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		testenv.Skip(t, "cannot mount a tmpfs: "+err.Error())
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes path until the filesystem is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				t.Fatalf("filling %s: %v", path, err)
			}
			return
		}
	}
}

// A document the store could not take because the disk was full is
// applied once space is back, on the same connection: the link retries it
// (the broker would redeliver it only after a reconnection).
func TestDiskFullDocumentAppliedWhenSpaceReturns(t *testing.T) {
	dir := mountTiny(t, 4<<20)
	b := startBroker(t, nil)
	st := openStore(t, filepath.Join(dir, "state.db"))
	l, _ := runLink(t, st, testConfig(b.url()), "n1")
	tp := l.Topics()
	cp := newControlPlane(t, b.url(), "cp")
	waitConnected(t, l)
	cp.publish(tp.NodeDesired(), true, testenv.NodeStateDoc(1, "small"))
	eventually(t, 30*time.Second, "generation 1 stored", func() bool { return generation(t, st, store.SourceNode) == 1 })
	connects := l.State().LastConnect

	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	// 100 pods with 2 KiB of annotations each: new pages the full disk
	// cannot give.
	var pods []string
	for i := range 100 {
		pods = append(pods, fmt.Sprintf(`{"metadata":{"name":"p%d","annotations":{"pad":%q}},"spec":{"containers":[{"name":"c","image":"busybox:1"}]}}`,
			i, strings.Repeat("x", 2048)))
	}
	big := fmt.Appendf(nil, `{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":2,"pods":[%s]}`, strings.Join(pods, ","))
	cp.publish(tp.NodeDesired(), true, big)
	eventually(t, 30*time.Second, "the store failing", func() bool {
		return strings.Contains(l.State().LastError, "document not stored")
	})
	if g := generation(t, st, store.SourceNode); g != 1 {
		t.Fatalf("generation %d stored on a full disk", g)
	}
	if e := l.State().LastError; !strings.Contains(e, "no space left on device") {
		t.Fatalf("link error %q: the store did not fail for space", e)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "generation 2 stored once space is back", func() bool {
		return generation(t, st, store.SourceNode) == 2
	})
	eventually(t, 30*time.Second, "the document acknowledged", func() bool { return inboundPending(t, st) == 0 })
	if s := l.State(); !s.LastConnect.Equal(connects) || s.State != StateConnected {
		t.Fatalf("the link reconnected (%v, %s): the retry must not need one", s.LastConnect, s.State)
	}
}
