package images_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"

	"github.com/outpost-edge/outpost/api"
	outpostimages "github.com/outpost-edge/outpost/runtime/images"
)

// TestGCDeletesLeastRecentlyUsed pulls four distinct images (same layer,
// own manifests) at one-minute intervals, lets a container record use the
// oldest, and drives the disk usage from the number of images left:
// 60% + 8% per image. From 92% the GC must delete the two least recently
// used unused images (92 -> 84 -> 76%), keep the one in use and the
// newest, and containerd must drop the deleted manifests.
func TestGCDeletesLeastRecentlyUsed(t *testing.T) {
	s := server(t)
	c := s.Client()
	ctx := testCtx(t)
	reg := startRegistry(t, registryOpts{})
	clk := newClock()
	p := newPuller(t, c, outpostimages.PullerConfig{Registry: outpostimages.RegistryConfig{Insecure: []string{"127.0.0.1"}}}, clk)

	refs := make([]string, 4)
	imgs := make([]testImage, 4)
	for i := range refs {
		imgs[i] = busybox(t).variant(i)
		reg.push("outpost/app", fmt.Sprint(i), imgs[i])
		refs[i] = fmt.Sprintf("%s/outpost/app:%d", reg.host, i)
		ensure(t, p, refs[i], api.PullIfNotPresent)
		clk.advance(time.Minute)
	}
	// The oldest image is in use; using it again does not matter for GC.
	if _, err := c.NewContainer(ctx, "in-use", client.WithImageName(refs[0]), client.WithSpec(&oci.Spec{})); err != nil {
		t.Fatal(err)
	}

	usage := func(ctx context.Context) (uint64, uint64, error) {
		list, err := c.ImageService().List(ctx)
		return uint64(60 + 8*len(list)), 100, err
	}
	gc, err := outpostimages.NewGC(c, outpostimages.GCConfig{Usage: usage, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	res, err := gc.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{refs[1], refs[2]}; !slices.Equal(res.Deleted, want) {
		t.Fatalf("deleted %v, want %v", res.Deleted, want)
	}
	if res.UsedBefore != 92 || res.Used != 76 || res.NotEnoughCandidate {
		t.Errorf("result %+v", res)
	}
	for i, ref := range refs {
		_, err := c.ImageService().Get(ctx, ref)
		_, cerr := c.ContentStore().Info(ctx, imgs[i].digest())
		deleted := i == 1 || i == 2
		if deleted != errdefs.IsNotFound(err) || deleted != errdefs.IsNotFound(cerr) {
			t.Errorf("%s: image %v, manifest %v; deleted = %v", ref, err, cerr, deleted)
		}
	}

	// Below the high threshold (76%): nothing to do.
	if res, err := gc.Collect(ctx); err != nil || len(res.Deleted) != 0 {
		t.Fatalf("below threshold: %+v, %v", res, err)
	}

	// Above it with only the in-use image and a recently used one: the
	// one used within MinAge stays too.
	high := func(context.Context) (uint64, uint64, error) { return 99, 100, nil }
	clk.advance(30 * time.Second) // refs[3] was used 90s ago: within MinAge
	gc, _ = outpostimages.NewGC(c, outpostimages.GCConfig{Usage: high, Now: clk.Now})
	res, err = gc.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.NotEnoughCandidate || len(res.Deleted) != 0 {
		t.Fatalf("in use and recent: %+v", res)
	}
	// Once MinAge has passed, the unused one goes; the one in use never.
	clk.advance(time.Minute)
	if res, err = gc.Collect(ctx); err != nil || !slices.Equal(res.Deleted, []string{refs[3]}) {
		t.Fatalf("after MinAge: %+v, %v", res, err)
	}
	if _, err := c.ImageService().Get(ctx, refs[0]); err != nil {
		t.Fatalf("image in use: %v", err)
	}
}

// TestGCCollectUnusedIgnoresThreshold: under disk pressure (bytes or
// inodes) the agent frees every unused image before it evicts a pod, though
// byte usage may be far below HighPercent (inode pressure). CollectUnused
// deletes the unused images regardless of the usage, and still spares the
// image in use and the one used within MinAge.
func TestGCCollectUnusedIgnoresThreshold(t *testing.T) {
	s := server(t)
	c := s.Client()
	ctx := testCtx(t)
	reg := startRegistry(t, registryOpts{})
	clk := newClock()
	p := newPuller(t, c, outpostimages.PullerConfig{Registry: outpostimages.RegistryConfig{Insecure: []string{"127.0.0.1"}}}, clk)

	refs := make([]string, 4)
	for i := range refs {
		reg.push("outpost/app", fmt.Sprint(i), busybox(t).variant(i))
		refs[i] = fmt.Sprintf("%s/outpost/app:%d", reg.host, i)
		ensure(t, p, refs[i], api.PullIfNotPresent)
		clk.advance(time.Minute)
	}
	if _, err := c.NewContainer(ctx, "in-use", client.WithImageName(refs[0]), client.WithSpec(&oci.Spec{})); err != nil {
		t.Fatal(err)
	}
	clk.advance(30 * time.Second) // refs[3] was used 90s ago: within MinAge

	// Bytes far below the threshold: the inodes are what ran out.
	low := func(context.Context) (uint64, uint64, error) { return 10, 100, nil }
	gc, err := outpostimages.NewGC(c, outpostimages.GCConfig{Usage: low, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := gc.Collect(ctx); err != nil || len(res.Deleted) != 0 {
		t.Fatalf("Collect below the threshold: %+v, %v", res, err)
	}
	res, err := gc.CollectUnused(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{refs[1], refs[2]}; !slices.Equal(res.Deleted, want) {
		t.Fatalf("CollectUnused deleted %v, want %v", res.Deleted, want)
	}
	for i, ref := range refs {
		_, err := c.ImageService().Get(ctx, ref)
		if deleted := i == 1 || i == 2; deleted != errdefs.IsNotFound(err) {
			t.Errorf("%s: %v; deleted = %v", ref, err, deleted)
		}
	}
	// Nothing unused left: nothing to do.
	if res, err := gc.CollectUnused(ctx); err != nil || len(res.Deleted) != 0 {
		t.Fatalf("second CollectUnused: %+v, %v", res, err)
	}
}

func TestGCConfig(t *testing.T) {
	usage := func(context.Context) (uint64, uint64, error) { return 0, 1, nil }
	for _, tc := range []struct {
		name string
		cfg  outpostimages.GCConfig
		ok   bool
	}{
		{"defaults", outpostimages.GCConfig{Usage: usage}, true},
		{"no usage", outpostimages.GCConfig{}, false},
		{"low above high", outpostimages.GCConfig{Usage: usage, HighPercent: 70, LowPercent: 80}, false},
		{"high above 100", outpostimages.GCConfig{Usage: usage, HighPercent: 101, LowPercent: 80}, false},
		{"explicit", outpostimages.GCConfig{Usage: usage, HighPercent: 95, LowPercent: 90}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := outpostimages.NewGC(nil, tc.cfg)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, outpostimages.ErrInvalidConfig)) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestFilesystemUsage(t *testing.T) {
	used, total, err := outpostimages.FilesystemUsage(t.TempDir())(context.Background())
	if err != nil || total == 0 || used > total {
		t.Fatalf("used %d total %d: %v", used, total, err)
	}
}
