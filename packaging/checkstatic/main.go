// Command checkstatic verifies that ELF binaries are statically linked (no
// program interpreter, no shared-library dependencies) and prints their
// architecture and size. `make cross` runs it on every binary it builds.
// A binary named *-armv6 or *-armv7 must also have been built for that ARM
// version (GOARM in its Go build information): an ARMv7 build on a
// Raspberry Pi Zero dies of an illegal instruction.
package main

import (
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// armName is the ARM version a binary's name promises.
var armName = regexp.MustCompile(`-armv([0-9])$`)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: checkstatic BINARY...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		if err := check(path); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func check(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("dynamically linked (has a program interpreter)")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return err
	}
	if len(libs) > 0 {
		return fmt.Errorf("needs shared libraries %v", libs)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	arch := f.Machine.String()
	if f.Machine == elf.EM_ARM {
		goarm, err := goARM(path)
		if err != nil {
			return err
		}
		if m := armName.FindStringSubmatch(path); m != nil && !strings.HasPrefix(goarm, m[1]) {
			return fmt.Errorf("built with GOARM=%s, its name says ARMv%s", goarm, m[1])
		}
		arch += " GOARM=" + goarm
	}
	fmt.Printf("%s: static, %s, %.1f MB\n", path, arch, float64(st.Size())/1e6)
	return nil
}

// goARM reads GOARM from a Go binary's build information.
func goARM(path string) (string, error) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("no Go build information: %w", err)
	}
	for _, s := range info.Settings {
		if s.Key == "GOARM" {
			return s.Value, nil
		}
	}
	return "", fmt.Errorf("no GOARM in the Go build information")
}
