package runtime_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/outpost-edge/outpost/runtime/ctrd"
)

// TestImportDirOnce: a tarball imported unchanged is not read again at the
// next start, and is imported again if its image went away.
func TestImportDirOnce(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	dir := filepath.Join(e.cfg.DataDir, "images")
	tars, _ := filepath.Glob(filepath.Join(dir, "*.tar"))
	if len(tars) != 1 {
		t.Fatalf("tarballs %v", tars)
	}
	if _, err := os.Stat(filepath.Join(dir, ".imported", filepath.Base(tars[0]))); err != nil {
		t.Fatalf("no import marker: %v", err)
	}
	// Garble the tarball, keeping its size and time: a skipped import does
	// not notice, a real one would fail.
	st, _ := os.Stat(tars[0])
	if err := os.WriteFile(tars[0], bytes.Repeat([]byte{'x'}, int(st.Size())), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(tars[0], st.ModTime(), st.ModTime())
	if err := e.rt.ImportDir(ctx, dir); err != nil {
		t.Fatalf("an unchanged tarball was read again: %v", err)
	}
	// With its image gone, the (now garbled) tarball is imported again.
	nsCtx := namespaces.WithNamespace(ctx, ctrd.Namespace)
	if err := e.rt.Client().ImageService().Delete(nsCtx, testImage, images.SynchronousDelete()); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.ImportDir(ctx, dir); err == nil {
		t.Fatal("a missing image did not trigger a new import")
	}
}
