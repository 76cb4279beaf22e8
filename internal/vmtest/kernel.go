package vmtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Kernel is a Debian kernel package unpacked into a directory.
type Kernel struct {
	Version string // e.g. "6.1.0-56-amd64"
	Root    string // the unpacked package: boot/ and lib/modules/<Version>
}

// Image is the kernel image to boot.
func (k *Kernel) Image() string { return filepath.Join(k.Root, "boot", "vmlinuz-"+k.Version) }

// Modules is the directory modprobe -d takes.
func (k *Kernel) Modules() string { return k.Root }

// ErrNoKernel is returned when no kernel package can be had.
var ErrNoKernel = errors.New("no Debian kernel package")

const readyMarker = ".outpost-ready"

var pkgVersion = regexp.MustCompile(`^linux-image-(\d[^ ]*)$`)

// FetchKernel returns Debian's current linux-image for the host's
// architecture, downloading it with apt-get and unpacking it under cacheDir
// the first time. Offline, the newest kernel already in cacheDir is used.
func FetchKernel(ctx context.Context, cacheDir string) (*Kernel, error) {
	arch, err := output(ctx, "dpkg", "--print-architecture")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoKernel, err)
	}
	k, err := fetchOnce(ctx, arch, cacheDir)
	if err != nil && os.Geteuid() == 0 {
		// Stale package lists name a kernel the mirror no longer has.
		if _, uerr := output(ctx, "apt-get", "update", "-qq"); uerr == nil {
			k, err = fetchOnce(ctx, arch, cacheDir)
		}
	}
	if err != nil {
		if cached := newestCached(cacheDir); cached != nil {
			return cached, nil
		}
		return nil, err
	}
	return k, nil
}

func fetchOnce(ctx context.Context, arch, cacheDir string) (*Kernel, error) {
	pkg, err := kernelPackage(ctx, arch)
	if err != nil {
		return nil, err
	}
	k := &Kernel{Version: strings.TrimPrefix(pkg, "linux-image-"), Root: filepath.Join(cacheDir, pkg)}
	if _, err := os.Stat(filepath.Join(k.Root, readyMarker)); err == nil {
		return k, nil
	}
	if err := unpackKernel(ctx, pkg, k); err != nil {
		return nil, err
	}
	return k, nil
}

// kernelPackage resolves the linux-image-<arch> meta package to the
// versioned package it depends on.
func kernelPackage(ctx context.Context, arch string) (string, error) {
	meta := "linux-image-" + arch
	out, err := output(ctx, "apt-cache", "depends", "--no-recommends", "--no-suggests", meta)
	if err == nil {
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == "Depends:" && pkgVersion.MatchString(f[1]) {
				return f[1], nil
			}
		}
	}
	return "", fmt.Errorf("%w: apt knows no %s (Debian's kernel meta package)", ErrNoKernel, meta)
}

func unpackKernel(ctx context.Context, pkg string, k *Kernel) error {
	if err := os.MkdirAll(filepath.Dir(k.Root), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(k.Root), ".fetch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "apt-get", "download", "-qq", pkg)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: apt-get download %s: %v: %s", ErrNoKernel, pkg, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, pkg+"_*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("%w: apt-get download %s left %d packages", ErrNoKernel, pkg, len(debs))
	}
	root := filepath.Join(tmp, "root")
	if _, err := output(ctx, "dpkg-deb", "-x", debs[0], root); err != nil {
		return fmt.Errorf("%w: %v", ErrNoKernel, err)
	}
	if _, err := output(ctx, depmod(), "-b", root, k.Version); err != nil {
		return fmt.Errorf("%w: %v", ErrNoKernel, err)
	}
	if err := os.WriteFile(filepath.Join(root, readyMarker), nil, 0o644); err != nil {
		return err
	}
	os.RemoveAll(k.Root)
	return os.Rename(root, k.Root)
}

func newestCached(cacheDir string) *Kernel {
	dirs, _ := filepath.Glob(filepath.Join(cacheDir, "linux-image-*", readyMarker))
	if len(dirs) == 0 {
		return nil
	}
	root := filepath.Dir(dirs[len(dirs)-1])
	return &Kernel{Version: strings.TrimPrefix(filepath.Base(root), "linux-image-"), Root: root}
}

// depmod and modprobe live in /sbin or /usr/sbin (kmod).
func depmod() string   { return sbin("depmod") }
func modprobe() string { return sbin("modprobe") }

func sbin(name string) string {
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(d, name); isExecutable(p) {
			return p
		}
	}
	return name
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func output(ctx context.Context, name string, args ...string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(string(out)), nil
}
