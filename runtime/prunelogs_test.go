package runtime_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// age sets the modification time of everything under dir to d ago.
func age(t *testing.T, dir string, d time.Duration) {
	t.Helper()
	old := time.Now().Add(-d)
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPruneLogs: only removed pods' directories whose logs are older than
// the retention go; a live hostNetwork pod (no hosts file) with quiet logs
// keeps its directory and its emptyDir.
func TestPruneLogs(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	quiet := hostPod("quiet", "echo once; mkdir -p /data && echo keep > /data/f; exec sleep 3600") +
		"    volumeMounts: [{name: data, mountPath: /data}]\n  volumes: [{name: data, emptyDir: {}}]\n"
	_, live, _ := e.run(pod(t, quiet))
	oldRef, old, _ := e.run(pod(t, hostPod("old", "echo bye")))
	freshRef, fresh, _ := e.run(pod(t, hostPod("fresh", "echo bye")))
	volume := filepath.Join(live.Dir, "volumes", "data", "f")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(volume); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the quiet pod wrote no %s", volume)
		}
	}
	for _, ref := range []string{oldRef.UID, freshRef.UID} {
		obs, err := e.rt.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range obs {
			if o.Ref.UID == ref {
				if err := e.rt.RemoveContainer(ctx, o.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := e.rt.RemovePod(ctx, ref, true); err != nil {
			t.Fatal(err)
		}
	}
	age(t, live.Dir, 2*time.Hour)
	age(t, old.Dir, 2*time.Hour)

	n, err := e.rt.PruneLogs(ctx, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("PruneLogs = %d, %v; want the one old removed pod", n, err)
	}
	if _, err := os.Stat(old.Dir); !os.IsNotExist(err) {
		t.Errorf("old removed pod's directory still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(fresh.Dir, "logs")); err != nil {
		t.Errorf("fresh removed pod's logs gone: %v", err)
	}
	if _, err := os.Stat(volume); err != nil {
		t.Errorf("the live hostNetwork pod lost its emptyDir: %v", err)
	}
}
