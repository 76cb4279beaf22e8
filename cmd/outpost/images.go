package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/outpost-edge/outpost/runtime/ctrd"
	rtimages "github.com/outpost-edge/outpost/runtime/images"
)

// runImages manages the node's images through the agent's containerd:
// import (tarballs, for air-gapped sites), ls and rm.
func runImages(args []string, stdout, stderr io.Writer) error {
	usage := func() error {
		fmt.Fprintln(stderr, "usage: outpost images ls | import FILE... | rm REF...")
		return exitError{Code: 2}
	}
	if len(args) == 0 {
		return usage()
	}
	fl := flag.NewFlagSet("images "+args[0], flag.ContinueOnError)
	fl.SetOutput(stderr)
	var f agentFlags
	f.register(fl)
	if err := fl.Parse(args[1:]); err != nil {
		return exitError{Code: 2}
	}
	cfg, err := f.load()
	if err != nil {
		return err
	}
	addr := cfg.Containerd.Address
	if addr == "" {
		addr = filepath.Join(cfg.Containerd.StateDir, "containerd.sock")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := ctrd.Connect(ctx, addr)
	if err != nil {
		return errNoAgent(addr, err)
	}
	defer c.Close()
	ctx = namespaces.WithNamespace(ctx, ctrd.Namespace)
	switch args[0] {
	case "ls":
		return listImages(ctx, c, stdout)
	case "import":
		if fl.NArg() == 0 {
			return usage()
		}
		for _, file := range fl.Args() {
			imgs, err := rtimages.Import(ctx, c, file, "")
			if err != nil {
				return err
			}
			for _, img := range imgs {
				fmt.Fprintf(stdout, "imported %s (%s)\n", img.Name(), img.Target().Digest)
			}
		}
		return nil
	case "rm":
		if fl.NArg() == 0 {
			return usage()
		}
		for _, ref := range fl.Args() {
			if err := c.ImageService().Delete(ctx, ref, images.SynchronousDelete()); err != nil {
				return fmt.Errorf("remove %s: %w", ref, err)
			}
			fmt.Fprintf(stdout, "removed %s\n", ref)
		}
		return nil
	}
	return usage()
}

func listImages(ctx context.Context, c *client.Client, stdout io.Writer) error {
	imgs, err := c.ListImages(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "IMAGE\tDIGEST\tSIZE\tCREATED")
	for _, img := range imgs {
		size, _ := img.Size(ctx)
		fmt.Fprintf(w, "%s\t%s\t%.1f MB\t%s\n", img.Name(), img.Target().Digest.Encoded()[:12],
			float64(size)/1e6, img.Metadata().CreatedAt.Format(time.DateTime))
	}
	return w.Flush()
}
