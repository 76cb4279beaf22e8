package api

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// IsManifestFile reports whether a file name is one of a manifest: *.yaml,
// *.yml or *.json, not a dot file (editors' and atomic writers' temporaries).
func IsManifestFile(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	switch filepath.Ext(name) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// ManifestFiles expands -f arguments, in order: "-" stays (standard
// input), a directory gives its manifest files (recursively, sorted),
// anything else is taken as is.
func ManifestFiles(args ...string) ([]string, error) {
	var out []string
	for _, arg := range args {
		files, err := manifestFiles(arg)
		if err != nil {
			return nil, err
		}
		out = append(out, files...)
	}
	return out, nil
}

func manifestFiles(arg string) ([]string, error) {
	if arg == "-" {
		return []string{arg}, nil
	}
	st, err := os.Stat(arg)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{arg}, nil
	}
	var out []string
	err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && IsManifestFile(d.Name()) {
			out = append(out, p)
		}
		return nil
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("%s: no *.yaml, *.yml or *.json files", arg)
	}
	return out, err
}

// ReadManifestFile reads a manifest file ("-": standard input), at most one
// byte more than a document may hold, so an oversized one is reported by
// the parser without being read whole.
func ReadManifestFile(path string) ([]byte, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxDocumentBytes+1))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return data, nil
}
