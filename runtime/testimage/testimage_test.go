package testimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/outpost-edge/outpost/internal/testenv"
)

func requireBusybox(t *testing.T) {
	t.Helper()
	if _, err := FindBusybox(); errors.Is(err, ErrNoBusybox) {
		testenv.Skip(t, "static busybox not found (Debian package busybox-static)")
	}
}

// readTar returns the regular files of a tarball and the symlinks' targets.
func readTar(t *testing.T, r io.Reader) (files map[string][]byte, links map[string]string) {
	t.Helper()
	files, links = map[string][]byte{}, map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, links
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = b
		case tar.TypeSymlink:
			links[h.Name] = h.Linkname
		}
	}
}

func TestBuild(t *testing.T) {
	requireBusybox(t)
	const ref = "docker.io/outpost/busybox:test"
	path, err := Build(t.TempDir(), ref)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files, _ := readTar(t, f)

	var index ocispec.Index
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if _, ok := files["oci-layout"]; !ok {
		t.Error("no oci-layout")
	}
	if len(index.Manifests) != 1 {
		t.Fatalf("index has %d manifests", len(index.Manifests))
	}
	md := index.Manifests[0]
	if got := md.Annotations["io.containerd.image.name"]; got != ref {
		t.Errorf("image name %q, want %q", got, ref)
	}
	if got := md.Annotations[ocispec.AnnotationRefName]; got != "test" {
		t.Errorf("ref name %q, want test", got)
	}
	blob := func(d ocispec.Descriptor) []byte {
		b, ok := files["blobs/sha256/"+d.Digest.Encoded()]
		if !ok {
			t.Fatalf("blob %s missing", d.Digest)
		}
		if d.Digest.Validate() != nil || d.Digest.Algorithm().FromBytes(b) != d.Digest || int64(len(b)) != d.Size {
			t.Fatalf("blob %s does not match its descriptor", d.Digest)
		}
		return b
	}
	var manifest ocispec.Manifest
	if err := json.Unmarshal(blob(md), &manifest); err != nil {
		t.Fatal(err)
	}
	var config ocispec.Image
	if err := json.Unmarshal(blob(manifest.Config), &config); err != nil {
		t.Fatal(err)
	}
	if len(config.Config.Cmd) != 2 || config.Config.Cmd[0] != "sleep" {
		t.Errorf("cmd %q", config.Config.Cmd)
	}
	if len(manifest.Layers) != 1 || len(config.RootFS.DiffIDs) != 1 || config.RootFS.DiffIDs[0] != manifest.Layers[0].Digest {
		t.Fatalf("layers %v, diff ids %v", manifest.Layers, config.RootFS.DiffIDs)
	}
	layerFiles, links := readTar(t, bytes.NewReader(blob(manifest.Layers[0])))
	if len(layerFiles["bin/busybox"]) == 0 {
		t.Error("no bin/busybox in layer")
	}
	for _, a := range []string{"sh", "httpd", "sleep"} {
		if links["bin/"+a] != "busybox" {
			t.Errorf("bin/%s -> %q, want busybox", a, links["bin/"+a])
		}
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	requireBusybox(t)
	a, err := Build(t.TempDir(), "outpost/busybox:x")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(t.TempDir(), "outpost/busybox:x")
	if err != nil {
		t.Fatal(err)
	}
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) {
		t.Error("two builds differ")
	}
}

func TestTagOf(t *testing.T) {
	for ref, want := range map[string]string{
		"docker.io/outpost/busybox:test": "test",
		"localhost:5000/busybox":         "latest",
		"localhost:5000/busybox:1.36":    "1.36",
		"busybox":                        "latest",
	} {
		if got := tagOf(ref); got != want {
			t.Errorf("tagOf(%q) = %q, want %q", ref, got, want)
		}
	}
}
