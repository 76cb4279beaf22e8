package images_test

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime/ctrd"
	"github.com/outpost-edge/outpost/runtime/images"
	"github.com/outpost-edge/outpost/runtime/testimage"
)

// server starts an embedded containerd: unpacking needs overlayfs, so root.
func server(t *testing.T) *ctrd.Server {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "runc", "runc")
	if _, err := testimage.FindBusybox(); err != nil {
		testenv.Skip(t, "static busybox not found (Debian package busybox-static)")
	}
	state := testenv.StateDir(t, "img")
	t.Cleanup(func() { os.RemoveAll(state) })
	s, err := ctrd.Start(context.Background(), ctrd.Config{DataDir: t.TempDir(), StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

func TestImportAndUnpack(t *testing.T) {
	s := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const ref = "docker.io/outpost/busybox:test"
	tar, err := testimage.Build(t.TempDir(), ref)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzipFile(t, tar)

	for _, path := range []string{tar, tar, gz} { // again, and compressed
		imgs, err := images.Import(ctx, s.Client(), path, "")
		if err != nil {
			t.Fatalf("import %s: %v", path, err)
		}
		if len(imgs) != 1 || imgs[0].Name() != ref {
			t.Fatalf("imported %d images", len(imgs))
		}
		ok, err := imgs[0].IsUnpacked(ctx, images.DefaultSnapshotter)
		if err != nil || !ok {
			t.Fatalf("unpacked = %v, %v", ok, err)
		}
	}
	list, err := s.Client().ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Errorf("%d images after importing one three times", len(list))
	}
}

func TestImportNotATarball(t *testing.T) {
	s := server(t)
	path := filepath.Join(t.TempDir(), "junk.tar")
	if err := os.WriteFile(path, []byte("not a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := images.Import(context.Background(), s.Client(), path, ""); err == nil {
		t.Fatal("importing junk succeeded")
	}
	if _, err := images.Import(context.Background(), s.Client(), path+".missing", ""); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("importing a missing file = %v, want not exist", err)
	}
}

func gzipFile(t *testing.T, path string) string {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(path + ".gz")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Name()
}
