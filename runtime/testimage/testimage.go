// Package testimage builds a small OCI image around Debian's static busybox,
// without downloads, for tests and the sample setup.
//
// The image has one layer: /bin/busybox, symlinks for the applets in
// Applets, a minimal /etc (passwd, group, hosts) and empty mount points. Its
// default command is Cmd. The tarball is an OCI image layout (oci-layout,
// index.json, blobs/sha256) and is byte-for-byte deterministic for a given
// busybox binary and ref.
package testimage

import (
	"archive/tar"
	"bytes"
	_ "crypto/sha256" // go-digest needs SHA-256 registered
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Applets get a symlink to busybox in /bin.
var Applets = []string{
	"cat", "chmod", "cp", "date", "df", "echo", "env", "false", "grep", "head", "hostname",
	"httpd", "id", "ip", "kill", "ln", "ls", "mkdir", "mount", "mv", "nc", "nslookup",
	"ping", "printf", "ps", "pwd", "rm", "sed", "sh", "sleep", "tail", "test", "top",
	"touch", "true", "uname", "wc", "wget",
}

// Cmd is the image's default command.
var Cmd = []string{"sleep", "3600"}

// BusyboxPaths are where Debian's busybox-static puts the binary.
var BusyboxPaths = []string{"/bin/busybox", "/usr/bin/busybox"}

// ErrNoBusybox is returned when no static busybox binary is installed.
var ErrNoBusybox = errors.New("static busybox not found: install the Debian/Ubuntu package busybox-static")

// epoch stamps every file and the image config, for reproducible digests.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Build writes the image, named ref (e.g. "docker.io/outpost/busybox:test"),
// as an OCI image layout tarball in dir and returns its path.
func Build(dir, ref string) (string, error) {
	bb, err := FindBusybox()
	if err != nil {
		return "", err
	}
	bin, err := os.ReadFile(bb)
	if err != nil {
		return "", fmt.Errorf("read busybox: %w", err)
	}
	arch, err := elfArch(bin)
	if err != nil {
		return "", fmt.Errorf("busybox at %s: %w", bb, err)
	}
	layer, err := buildLayer(bin)
	if err != nil {
		return "", err
	}
	blobs, index, err := buildImage(layer, arch, ref)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, fileName(ref))
	if err := writeLayout(path, blobs, index); err != nil {
		return "", err
	}
	return path, nil
}

// FindBusybox returns the path of a statically linked busybox.
func FindBusybox() (string, error) {
	candidates := append([]string{}, BusyboxPaths...)
	if p, err := exec.LookPath("busybox"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if static, err := isStatic(p); err == nil && static {
			return p, nil
		}
	}
	return "", ErrNoBusybox
}

func isStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// elfArch is the OCI architecture of an ELF binary; the image must claim
// the busybox's architecture, not the one outpost was built for.
func elfArch(bin []byte) (string, error) {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return "", err
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_ARM:
		return "arm", nil
	case elf.EM_386:
		return "386", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	}
	return "", fmt.Errorf("unsupported machine %s", f.Machine)
}

// fileName turns a ref into a file name: one tarball per ref in dir.
func fileName(ref string) string {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, ref)
	return clean + ".oci.tar"
}

// buildLayer returns the uncompressed layer tar. Entries are in a fixed
// order with fixed owners and times.
func buildLayer(busybox []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := func(h *tar.Header) error {
		h.ModTime, h.Uname, h.Gname = epoch, "root", "root"
		return tw.WriteHeader(h)
	}
	for _, d := range []struct {
		name string
		mode int64
	}{{"bin/", 0o755}, {"dev/", 0o755}, {"etc/", 0o755}, {"proc/", 0o555}, {"root/", 0o700},
		{"sys/", 0o555}, {"tmp/", 0o1777}, {"var/", 0o755}, {"var/www/", 0o755}} {
		if err := hdr(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode}); err != nil {
			return nil, err
		}
	}
	if err := hdr(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(busybox))}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(busybox); err != nil {
		return nil, err
	}
	for _, a := range Applets {
		if err := hdr(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}); err != nil {
			return nil, err
		}
	}
	files := []struct{ name, body string }{
		{"etc/group", "root:x:0:\nnogroup:x:65534:\n"},
		{"etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost\n"},
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
		{"var/www/index.html", "hello from outpost\n"},
	}
	for _, f := range files {
		if err := hdr(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.body))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	return buf.Bytes(), nil
}

// blob is a content-addressed file of the layout.
type blob struct {
	desc ocispec.Descriptor
	data []byte
}

func newBlob(mediaType string, data []byte) blob {
	return blob{
		desc: ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))},
		data: data,
	}
}

func jsonBlob(mediaType string, v any) (blob, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return blob{}, err
	}
	return newBlob(mediaType, data), nil
}

// buildImage returns the blobs (layer, config, manifest) and index.json.
func buildImage(layerTar []byte, arch, ref string) ([]blob, []byte, error) {
	layer := newBlob(ocispec.MediaTypeImageLayer, layerTar)
	created := epoch
	config, err := jsonBlob(ocispec.MediaTypeImageConfig, ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: arch, OS: "linux"},
		Config: ocispec.ImageConfig{
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cmd:        Cmd,
			WorkingDir: "/",
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.desc.Digest}},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("image config: %w", err)
	}
	manifest, err := jsonBlob(ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config.desc,
		Layers:    []ocispec.Descriptor{layer.desc},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("image manifest: %w", err)
	}
	mdesc := manifest.desc
	mdesc.Platform = &ocispec.Platform{Architecture: arch, OS: "linux"}
	mdesc.Annotations = map[string]string{
		// containerd names the image after the full ref; the OCI
		// annotation carries only the tag, as the spec wants.
		"io.containerd.image.name": ref,
		ocispec.AnnotationRefName:  tagOf(ref),
	}
	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{mdesc},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("image index: %w", err)
	}
	return []blob{layer, config, manifest}, index, nil
}

// tagOf returns the tag of ref, "latest" if it has none.
func tagOf(ref string) string {
	name := ref[strings.LastIndex(ref, "/")+1:]
	if _, tag, ok := strings.Cut(name, ":"); ok {
		return tag
	}
	return "latest"
}

// writeLayout writes the layout tarball next to path and renames it into
// place, so a reader never sees half a file.
func writeLayout(path string, blobs []blob, index []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".testimage-*")
	if err != nil {
		return fmt.Errorf("create image tarball: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	tw := tar.NewWriter(tmp)
	add := func(name string, data []byte) error {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := add(ocispec.ImageLayoutFile, layout); err != nil {
		return fmt.Errorf("write image tarball: %w", err)
	}
	if err := add(ocispec.ImageIndexFile, index); err != nil {
		return fmt.Errorf("write image tarball: %w", err)
	}
	for _, b := range blobs {
		name := "blobs/" + b.desc.Digest.Algorithm().String() + "/" + b.desc.Digest.Encoded()
		if err := add(name, b.data); err != nil {
			return fmt.Errorf("write image tarball: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write image tarball: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write image tarball: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write image tarball: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write image tarball: %w", err)
	}
	return nil
}
