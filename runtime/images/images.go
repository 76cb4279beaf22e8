// Package images puts image tarballs into containerd: it imports OCI image
// layouts and docker-archive tarballs (plain or compressed) and unpacks them
// for a snapshotter, so containers can be created from them without a pull.
package images

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/archive/compression"
)

// DefaultSnapshotter is the snapshotter images are unpacked for when the
// caller names none; the embedded server has only overlayfs.
const DefaultSnapshotter = "overlayfs"

// ErrNoImage is returned for a tarball that names no image.
var ErrNoImage = errors.New("image tarball names no image")

// Import imports the image tarball at path with c (whose namespace and
// platform apply) and unpacks every image it names for snapshotter. An image
// with the same name is replaced. Importing the same tarball again is cheap:
// content and snapshots already present are kept.
func Import(ctx context.Context, c *client.Client, path, snapshotter string) ([]client.Image, error) {
	if snapshotter == "" {
		snapshotter = DefaultSnapshotter
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open image tarball: %w", err)
	}
	defer f.Close()
	r, err := compression.DecompressStream(f)
	if err != nil {
		return nil, fmt.Errorf("read image tarball %s: %w", path, err)
	}
	defer r.Close()

	// Import holds a lease until it returns; unpack under one more so the
	// garbage collector cannot take content between the two steps.
	ctx, done, err := c.WithLease(ctx)
	if err != nil {
		return nil, fmt.Errorf("lease for import: %w", err)
	}
	defer done(context.WithoutCancel(ctx))

	imported, err := c.Import(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	if len(imported) == 0 {
		return nil, fmt.Errorf("%s: %w", path, ErrNoImage)
	}
	out := make([]client.Image, 0, len(imported))
	for _, img := range imported {
		image := client.NewImage(c, img)
		if err := image.Unpack(ctx, snapshotter); err != nil {
			return nil, fmt.Errorf("unpack %s for %s: %w", img.Name, snapshotter, err)
		}
		out = append(out, image)
	}
	return out, nil
}
