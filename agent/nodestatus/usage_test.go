package nodestatus

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCgroupUsage(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  PodUsage
	}{
		{
			name: "cgroup v2: working set is memory.current minus inactive_file",
			files: map[string]string{
				"outpost/poduid1/memory.current":     "109051904\n",
				"outpost/poduid1/memory.stat":        "anon 50000000\ninactive_file 4194304\nactive_file 100\n",
				"outpost/poduid1/pids.current":       "7\n",
				"outpost/poduid1/web/memory.current": "73400320\n",
				"outpost/poduid1/web/memory.stat":    "inactive_file 1048576\n",
			},
			want: PodUsage{Memory: 100 * mi, PIDs: 7, Containers: []ContainerUsage{{"web", 69 * mi}, {"sidecar", 0}}},
		},
		{
			name: "cgroup v1: memory and pids hierarchies",
			files: map[string]string{
				"memory/outpost/poduid1/memory.usage_in_bytes":         "209715200\n",
				"memory/outpost/poduid1/memory.stat":                   "cache 1\ninactive_file 1\ntotal_inactive_file 10485760\n",
				"memory/outpost/poduid1/web/memory.usage_in_bytes":     "104857600\n",
				"memory/outpost/poduid1/sidecar/memory.usage_in_bytes": "1048576\n",
				"pids/outpost/poduid1/pids.current":                    "3\n",
			},
			want: PodUsage{Memory: 190 * mi, PIDs: 3, Containers: []ContainerUsage{{"web", 100 * mi}, {"sidecar", mi}}},
		},
		{
			name:  "no cgroup at all is zero usage",
			files: map[string]string{"outpost/podother/memory.current": "1\n"},
			want:  PodUsage{Containers: []ContainerUsage{{"web", 0}, {"sidecar", 0}}},
		},
		{
			name: "inactive file larger than usage clamps to zero",
			files: map[string]string{
				"outpost/poduid1/memory.current": "100\n",
				"outpost/poduid1/memory.stat":    "inactive_file 4096\n",
			},
			want: PodUsage{Containers: []ContainerUsage{{"web", 0}, {"sidecar", 0}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tt.files)
			got, err := CgroupUsage{Root: root}.PodUsage(context.Background(), "uid1", []string{"web", "sidecar"})
			if err != nil {
				t.Fatal(err)
			}
			if got.Memory != tt.want.Memory || got.PIDs != tt.want.PIDs || got.Disk != 0 || len(got.Containers) != len(tt.want.Containers) {
				t.Fatalf("usage %+v, want %+v", got, tt.want)
			}
			for i := range got.Containers {
				if got.Containers[i] != tt.want.Containers[i] {
					t.Errorf("container %d: %+v, want %+v", i, got.Containers[i], tt.want.Containers[i])
				}
			}
		})
	}
}

func TestCgroupUsageErrors(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"outpost/podbad/memory.current": "lots\n"})
	u := CgroupUsage{Root: root}
	if _, err := u.PodUsage(context.Background(), "bad", nil); !errors.Is(err, errFormat) {
		t.Errorf("unparsable memory.current: err = %v, want errFormat", err)
	}
	for _, uid := range []string{"", "..", "a/b"} {
		if _, err := u.PodUsage(context.Background(), uid, nil); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("uid %q: err = %v, want fs.ErrInvalid", uid, err)
		}
	}
}

func TestCgroupUsageDisk(t *testing.T) {
	pods := t.TempDir()
	writeFiles(t, pods, map[string]string{
		"uid1/volumes/cache/blob": string(make([]byte, 64<<10)),
		"uid1/logs/web/0.log":     "hello\n",
		"uid2/other":              string(make([]byte, 1<<20)),
	})
	u := CgroupUsage{Root: t.TempDir(), PodsDir: pods}
	got, err := u.PodUsage(context.Background(), "uid1", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Allocated blocks: at least the 64 KiB written, well under the other pod's 1 MiB.
	if got.Disk < 64<<10 || got.Disk >= 1<<20 {
		t.Errorf("disk usage %d, want [64Ki, 1Mi)", got.Disk)
	}
	missing, err := u.PodUsage(context.Background(), "gone", nil)
	if err != nil || missing.Disk != 0 {
		t.Errorf("missing pod dir: %+v, %v; want 0, nil", missing, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := u.PodUsage(ctx, "uid1", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled walk: err = %v", err)
	}
}

type fakeLayers map[string]int64

func (f fakeLayers) WritableLayerBytes(_ context.Context, uid string) (int64, error) {
	if uid == "broken" {
		return 0, errors.New("snapshotter down")
	}
	return f[uid], nil
}

func TestCgroupUsageWritableLayers(t *testing.T) {
	pods := t.TempDir()
	writeFiles(t, pods, map[string]string{"uid1/volumes/cache/blob": string(make([]byte, 64<<10))})
	u := CgroupUsage{Root: t.TempDir(), PodsDir: pods, Layers: fakeLayers{"uid1": 5 << 20, "uid2": 3 << 20}}
	tests := []struct {
		uid          string
		min, max     int64
		wantErrorful bool
	}{
		{"uid1", 5<<20 + 64<<10, 6 << 20, false}, // volume + layer
		{"uid2", 3 << 20, 3 << 20, false},        // layer only
		{"uid3", 0, 0, false},
		{"broken", 0, 0, true},
	}
	for _, tt := range tests {
		got, err := u.PodUsage(context.Background(), tt.uid, nil)
		if (err != nil) != tt.wantErrorful {
			t.Fatalf("%s: err = %v", tt.uid, err)
		}
		if got.Disk < tt.min || got.Disk > tt.max {
			t.Errorf("%s: disk %d, want [%d, %d]", tt.uid, got.Disk, tt.min, tt.max)
		}
	}
}
