// Command mkimage writes the busybox OCI image tarball that `make run` and
// the examples use (outpost.local/busybox:test), built from Debian's
// busybox-static with no download.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/outpost-edge/outpost/runtime/testimage"
)

func main() {
	dir := flag.String("dir", ".", "directory to write the tarball into")
	ref := flag.String("ref", "outpost.local/busybox:test", "image name")
	flag.Parse()
	path, err := testimage.Build(*dir, *ref)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}
