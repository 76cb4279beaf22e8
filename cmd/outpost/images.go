package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/outpost-edge/outpost/internal/cli"
	"github.com/outpost-edge/outpost/runtime/ctrd"
	rtimages "github.com/outpost-edge/outpost/runtime/images"
)

// runImages manages the node's images through the agent's containerd:
// import (tarballs, for air-gapped sites), ls and rm.
func runImages(args []string, stdout, stderr io.Writer) error {
	cmd := cli.NewFlagSet("images", "outpost images ls | import FILE... | rm REF...", stderr)
	var f agentFlags
	f.register(cmd.FlagSet)
	pos, err := cmd.Parse(args, 1, -1)
	if err != nil {
		return err
	}
	sub, operands := pos[0], pos[1:]
	switch {
	case sub != "ls" && sub != "import" && sub != "rm":
		return cmd.Fail("unknown subcommand %q", sub)
	case sub == "ls" && len(operands) > 0:
		return cmd.Fail("ls takes no arguments")
	case sub != "ls" && len(operands) == 0:
		return cmd.Fail("%s needs at least one argument", sub)
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
	switch sub {
	case "ls":
		return listImages(ctx, c, stdout)
	case "import":
		for _, file := range operands {
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
		for _, ref := range operands {
			if err := c.ImageService().Delete(ctx, ref, images.SynchronousDelete()); err != nil {
				return fmt.Errorf("remove %s: %w", ref, err)
			}
			fmt.Fprintf(stdout, "removed %s\n", ref)
		}
	}
	return nil
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
