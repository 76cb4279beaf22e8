package main

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// entry is one path of a package's tree: a directory (data and src
// empty, dir set), or a file from data or copied from src.
type entry struct {
	path string // absolute, inside the package
	mode os.FileMode
	dir  bool
	data []byte
	src  string
}

// pkg is one binary package.
type pkg struct {
	name, version, arch string
	depends             string
	description         string // first line: the synopsis
	entries             []entry
	conffiles           []string
	scripts             map[string]string // DEBIAN/<name> -> source file
}

const (
	maintainer = "Outpost maintainers <maintainers@outpost.dev>"
	homepage   = "https://github.com/outpost-edge/outpost"
)

// build stages p under a temporary directory and runs dpkg-deb on it,
// writing outDir/<name>_<version>_<arch>.deb compressed with compress (xz
// for releases; tests take the faster gzip). Owners are root
// (--root-owner-group); modes and times come from p and date, so the same
// inputs give the same package.
func build(p pkg, outDir, compress string, date time.Time) (string, error) {
	stage, err := os.MkdirTemp("", "mkdeb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	if err := os.Chmod(stage, 0o755); err != nil { // the package's "./"
		return "", err
	}

	var md5sums strings.Builder
	installed := int64(0)
	conf := map[string]bool{}
	for _, c := range p.conffiles {
		conf[c] = true
	}
	sort.Slice(p.entries, func(i, j int) bool { return p.entries[i].path < p.entries[j].path })
	for _, e := range p.entries {
		dst := filepath.Join(stage, e.path)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		if e.dir {
			if err := os.MkdirAll(dst, e.mode); err != nil {
				return "", err
			}
			installed++ // dpkg-gencontrol counts a directory as 1 KiB
		} else {
			data := e.data
			if e.src != "" {
				if data, err = os.ReadFile(e.src); err != nil {
					return "", err
				}
			}
			if err := os.WriteFile(dst, data, e.mode); err != nil {
				return "", err
			}
			installed += (int64(len(data)) + 1023) / 1024
			if !conf[e.path] {
				fmt.Fprintf(&md5sums, "%x  %s\n", md5.Sum(data), strings.TrimPrefix(e.path, "/"))
			}
		}
		if err := os.Chmod(dst, e.mode); err != nil { // not the umask's
			return "", err
		}
	}

	ctl := filepath.Join(stage, "DEBIAN")
	if err := os.MkdirAll(ctl, 0o755); err != nil {
		return "", err
	}
	var control strings.Builder
	fmt.Fprintf(&control, "Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: %s\nInstalled-Size: %d\n",
		p.name, p.version, p.arch, maintainer, installed)
	if p.depends != "" {
		fmt.Fprintf(&control, "Depends: %s\n", p.depends)
	}
	fmt.Fprintf(&control, "Section: admin\nPriority: optional\nHomepage: %s\nDescription: %s\n", homepage, p.description)
	files := map[string][]byte{"control": []byte(control.String()), "md5sums": []byte(md5sums.String())}
	if len(p.conffiles) > 0 {
		files["conffiles"] = []byte(strings.Join(p.conffiles, "\n") + "\n")
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(ctl, name), data, 0o644); err != nil {
			return "", err
		}
	}
	for name, src := range p.scripts {
		data, err := os.ReadFile(src)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(ctl, name), data, 0o755); err != nil {
			return "", err
		}
	}
	if err := touchAll(stage, date); err != nil {
		return "", err
	}

	out := filepath.Join(outDir, fmt.Sprintf("%s_%s_%s.deb", p.name, p.version, p.arch))
	cmd := exec.Command("dpkg-deb", "--root-owner-group", "-Z"+compress, "--build", stage, out)
	cmd.Env = append(os.Environ(), fmt.Sprintf("SOURCE_DATE_EPOCH=%d", date.Unix()))
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb %s: %w: %s", p.name, err, bytes.TrimSpace(msg))
	}
	return out, nil
}

// touchAll sets every path's times to date (a reproducible archive).
func touchAll(root string, date time.Time) error {
	return filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(path, date, date)
	})
}

// gzipped compresses data as gzip -9n does: no name, no time stamp.
func gzipped(data []byte) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	w.Write(data)
	w.Close()
	return b.Bytes()
}
