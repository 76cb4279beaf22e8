package runtime_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/runtime/containerspec"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
	"github.com/outpost-edge/outpost/runtime/safepath"
)

// subPathPod: "flip" keeps turning the entry x of the shared emptyDir from a
// directory into a link to a host directory outside the pod and back (the
// attack of CVE-2017-1002101 / CVE-2021-25741); "probe" mounts x by subPath
// and says whether it sees the host directory's marker.
func subPathPod(outside string) string {
	return `apiVersion: v1
kind: Pod
metadata: {name: subpath}
spec:
  hostNetwork: true
  restartPolicy: Never
  volumes: [{name: shared, emptyDir: {}}]
  containers:
  - name: flip
    image: IMAGE
    imagePullPolicy: Never
    command: ["sh", "-c", "cd /shared && while :; do mkdir x; sleep 0.$((RANDOM % 4)); rm -rf x; ln -s ` + outside + ` x; sleep 0.0$((RANDOM % 10)); rm x; done"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  - name: probe
    image: IMAGE
    imagePullPolicy: Never
    command: ["sh", "-c", "if [ -e /mnt/marker ]; then echo ESCAPED; else echo inside; fi; touch /mnt/written 2>/dev/null; exit 0"]
    volumeMounts: [{name: shared, mountPath: /mnt, subPath: x}]
`
}

// TestSubPathRace starts the probe again and again while the flipper runs:
// each start either mounts the directory or is refused (the link was there
// when it was opened); none may mount the host directory or write into it.
func TestSubPathRace(t *testing.T) {
	e := newEnv(t, nil)
	ctx, events := e.events()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "marker"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := pod(t, subPathPod(outside))
	ref := runtimeapi.PodRef{Source: "static", Name: p.Metadata.Name, UID: newUID()}
	sb, err := e.rt.EnsureSandbox(ctx, p, ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.StartContainer(ctx, runtimeapi.StartRequest{Pod: p, Ref: ref, Sandbox: sb, Container: &p.Spec.Containers[0]}); err != nil {
		t.Fatal(err)
	}
	const attempts = 60
	// An attempt that found the link is refused; one that found the
	// directory binds it, and the container then runs in it, or fails to
	// mount it because the flipper removed it meanwhile (what happens
	// depends on how long a start takes here: over a second under
	// emulation). An escape would be a start that succeeds and shows the
	// host directory, which is never removed.
	var mounted, bound, refused, other int
	for i := range attempts {
		s, err := e.rt.StartContainer(ctx, runtimeapi.StartRequest{Pod: p, Ref: ref, Sandbox: sb, Container: &p.Spec.Containers[1], Attempt: i})
		switch {
		case errors.Is(err, containerspec.ErrForbidden):
			refused++
			continue
		case err != nil && strings.Contains(err.Error(), "error mounting"):
			bound++
			continue
		case err != nil:
			// Absent or half made at that moment (no such file, not a
			// directory).
			other++
			t.Logf("attempt %d: %v", i, err)
			continue
		}
		if exit := waitExit(t, events, s.ID, 60*time.Second); exit.Code != 0 {
			t.Fatalf("attempt %d: probe exited %+v: %s", i, exit, readLog(t, s.LogPath))
		}
		log := readLog(t, s.LogPath)
		if strings.Contains(log, "ESCAPED") {
			t.Fatalf("attempt %d: the probe's subPath mount showed the host directory %s", i, outside)
		}
		if !strings.Contains(log, "inside") {
			t.Fatalf("attempt %d: log %q", i, log)
		}
		mounted++
	}
	t.Logf("%d attempts: %d ran in the directory, %d bound it but found it gone, %d refused as leaving the volume, %d failed otherwise; 0 escapes",
		attempts, mounted, bound, refused, other)
	if _, err := os.Stat(filepath.Join(outside, "written")); err == nil {
		t.Fatal("a probe wrote into the host directory")
	}
	if mounted+bound == 0 || refused == 0 {
		t.Fatalf("the race was not exercised: the directory was bound %d times, the link refused %d times", mounted+bound, refused)
	}
	// Nothing stays mounted on the host once the tasks exist.
	assertNoMounts(t, filepath.Join(sb.Dir, "subpaths"))
}

// TestSubPathAtRest: each shape of link a container can leave in a volume
// is refused with ErrForbidden, naming the subPath; a link that stays
// inside is followed; nothing stays mounted on the host.
func TestSubPathAtRest(t *testing.T) {
	e := newEnv(t, nil)
	ctx, events := e.events()
	outside := t.TempDir()
	doc := func(sub string) string {
		return `apiVersion: v1
kind: Pod
metadata: {name: atrest}
spec:
  hostNetwork: true
  restartPolicy: Never
  volumes: [{name: shared, emptyDir: {}}]
  containers:
  - name: probe
    image: IMAGE
    imagePullPolicy: Never
    command: ["sh", "-c", "ls /mnt"]
    volumeMounts: [{name: shared, mountPath: /mnt, subPath: '` + sub + `'}]
`
	}
	p := pod(t, doc("x"))
	ref := runtimeapi.PodRef{Source: "static", Name: p.Metadata.Name, UID: newUID()}
	sb, err := e.rt.EnsureSandbox(ctx, p, ref)
	if err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(sb.Dir, "volumes", "shared")
	for name, target := range map[string]string{"root": "/", "outside": outside, "up": "..", "deep": "a/../../..", "in": "a", "loop": "loop"} {
		if err := os.Symlink(target, filepath.Join(vol, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(vol, "a/in-a"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, sub := range []string{"root", "root/etc", "outside", "up", "up/volumes", "deep", "loop", "in", "in/in-a"} {
		p := pod(t, doc(sub))
		s, err := e.rt.StartContainer(ctx, runtimeapi.StartRequest{Pod: p, Ref: ref, Sandbox: sb, Container: &p.Spec.Containers[0], Attempt: i})
		if strings.HasPrefix(sub, "in") {
			if err != nil {
				t.Errorf("subPath %s (inside the volume): %v", sub, err)
				continue
			}
			if exit := waitExit(t, events, s.ID, 60*time.Second); exit.Code != 0 {
				t.Errorf("subPath %s: exit %+v", sub, exit)
			}
			continue
		}
		if !errors.Is(err, containerspec.ErrForbidden) || !strings.Contains(err.Error(), `subPath "`+sub+`"`) {
			t.Errorf("subPath %s: err = %v, want ErrForbidden naming it", sub, err)
		}
	}
	assertNoMounts(t, filepath.Join(sb.Dir, "subpaths"))
}

// TestSubPathLeftoverUnbound: an agent killed between binding a
// container's volume sources and creating its task leaves them mounted;
// the next start unmounts them, and what they showed is untouched.
func TestSubPathLeftoverUnbound(t *testing.T) {
	e := newEnv(t, nil)
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := safepath.OpenRoot(vol)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	target := filepath.Join(e.cfg.DataDir, "pods", newUID(), "subpaths", "c-0", "0")
	if err := safepath.Bind(root, target); err != nil {
		t.Fatal(err)
	}
	e.restart()
	assertNoMounts(t, filepath.Join(e.cfg.DataDir, "pods"))
	if _, err := os.Stat(filepath.Dir(target)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("mount point left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(vol, "keep")); err != nil {
		t.Errorf("the bound directory lost its file: %v", err)
	}
}
