package containerspec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
)

// imageRoot is a root filesystem with an /etc/passwd to resolve users in.
func imageRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\ntoor:x:0:0:root again:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestRunAsNonRoot(t *testing.T) {
	const (
		root       = `container "c": container has runAsNonRoot and image will run as root`
		unverified = `container "c": container has runAsNonRoot and image has non-numeric user (ghost), cannot verify user is non-root`
	)
	tests := []struct {
		name      string
		container string
		imageUser string
		want      string // an error starting with this, or "" for a spec
		uid       uint32
	}{
		{"image without USER runs as root", "securityContext: {runAsNonRoot: true}", "", root, 0},
		{"numeric root USER", "securityContext: {runAsNonRoot: true}", "0", root, 0},
		{"numeric root USER with a group", "securityContext: {runAsNonRoot: true}", "0:1000", root, 0},
		{"runAsGroup alone keeps root", "securityContext: {runAsNonRoot: true, runAsGroup: 1000}", "", root, 0},
		{"named root USER", "securityContext: {runAsNonRoot: true}", "root", root + ` (user "root" is uid 0)`, 0},
		{"another name for uid 0", "securityContext: {runAsNonRoot: true}", "toor", root + ` (user "toor" is uid 0)`, 0},
		{"name not in /etc/passwd", "securityContext: {runAsNonRoot: true}", "ghost", unverified, 0},
		{"named non-root USER", "securityContext: {runAsNonRoot: true}", "app", "", 1000},
		{"named non-root USER and runAsGroup", "securityContext: {runAsNonRoot: true, runAsGroup: 5}", "app", "", 1000},
		{"numeric non-root USER", "securityContext: {runAsNonRoot: true}", "1000", "", 1000},
		{"numeric non-root USER and group", "securityContext: {runAsNonRoot: true}", "1000:1000", "", 1000},
		{"runAsUser", "securityContext: {runAsNonRoot: true, runAsUser: 1000}", "", "", 1000},
		{"runAsUser overrides a root USER", "securityContext: {runAsNonRoot: true, runAsUser: 1000}", "root", "", 1000},
		{"runAsNonRoot false", "securityContext: {runAsNonRoot: false}", "", "", 0},
		{"no securityContext, named root", "", "root", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			image := busybox
			image.User = tt.imageUser
			pod := basePod(t, tt.container)
			opts, err := Options(pod, &pod.Spec.Spec.Containers[0], image, Policy{})
			if err == nil {
				ctx := namespaces.WithNamespace(context.Background(), "test")
				var s *oci.Spec
				s, err = oci.GenerateSpec(ctx, nil, &containers.Container{ID: "c1"}, append([]oci.SpecOpts{oci.WithRootFSPath(imageRoot(t))}, opts...)...)
				if err == nil && tt.want == "" && s.Process.User.UID != tt.uid {
					t.Errorf("uid = %d, want %d", s.Process.User.UID, tt.uid)
				}
			}
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrRunAsNonRoot) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant ErrRunAsNonRoot starting with %s", err, tt.want)
			}
		})
	}
}
