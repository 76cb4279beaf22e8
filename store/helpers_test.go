package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/api"
	bolt "go.etcd.io/bbolt"
)

// Child-process modes of the test binary (see TestMain).
const (
	helperEnv = "OUTPOST_STORE_TEST_HELPER"
	pathEnv   = "OUTPOST_STORE_TEST_PATH"
)

func TestMain(m *testing.M) {
	switch mode := os.Getenv(helperEnv); mode {
	case "":
		os.Exit(m.Run())
	case "crash":
		os.Exit(crashChild(os.Getenv(pathEnv)))
	case "hold":
		os.Exit(holdChild(os.Getenv(pathEnv)))
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", helperEnv, mode)
		os.Exit(2)
	}
}

// holdChild opens the store, says so, and keeps it open until killed.
func holdChild(path string) int {
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	fmt.Println("ready")
	time.Sleep(time.Minute)
	return 0
}

func statePath(t testing.TB) string { return filepath.Join(t.TempDir(), "state.db") }

func openT(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// reopen closes s and opens its file again with opts, after bbolt's own check.
func reopen(t testing.TB, s *Store, opts Options) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkFile(t, s.Path())
	return openT(t, s.Path(), opts)
}

// checkFile runs bbolt's consistency check (tx.Check) on a closed file.
func checkFile(t testing.TB, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("bolt open for check: %v", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check %s: %v", path, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testPod is a realistic pod: two containers with ports, env, resources,
// probes and a volume. Its "gen" annotation says which document carried it.
func testPod(name string, gen int64) api.Pod {
	grace := int64(30)
	probe := &api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/healthz", Port: api.FromString("http")}, PeriodSeconds: 10}
	res := api.Resources{
		Requests: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("100m"), api.ResourceMemory: api.MustParseQuantity("64Mi")},
		Limits:   api.ResourceList{api.ResourceMemory: api.MustParseQuantity("128Mi")},
	}
	return api.Pod{
		TypeMeta: api.TypeMeta{APIVersion: api.CoreVersion, Kind: api.KindPod},
		Metadata: api.ObjectMeta{
			Name:        name,
			Labels:      map[string]string{"app": name, "tier": "edge"},
			Annotations: map[string]string{"gen": strconv.FormatInt(gen, 10)},
		},
		Spec: api.PodSpec{
			RestartPolicy:                 api.RestartAlways,
			TerminationGracePeriodSeconds: &grace,
			Volumes:                       []api.Volume{{Name: "cache", EmptyDir: &api.EmptyDirVolumeSource{}}},
			Containers: []api.Container{
				{
					Name:           "app",
					Image:          "registry.example.com/edge/" + name + ":1.4.2",
					Env:            []api.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "POD", Value: name}},
					Ports:          []api.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: api.ProtocolTCP}},
					Resources:      res,
					VolumeMounts:   []api.VolumeMount{{Name: "cache", MountPath: "/var/cache/app"}},
					LivenessProbe:  probe,
					ReadinessProbe: probe,
				},
				{
					Name:      "sidecar",
					Image:     "registry.example.com/edge/logship:0.9",
					Args:      []string{"--forward", "localhost:24224"},
					Resources: res,
				},
			},
		},
	}
}

func testService(name string) api.Service {
	return api.Service{
		TypeMeta: api.TypeMeta{APIVersion: api.CoreVersion, Kind: api.KindService},
		Metadata: api.ObjectMeta{Name: name},
		Spec: api.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []api.ServicePort{{Name: "http", Port: 80, TargetPort: api.FromString("http")}},
		},
	}
}

func testDoc(gen int64, pods ...string) *api.NodeState {
	d := &api.NodeState{TypeMeta: api.TypeMeta{APIVersion: api.GroupVersion, Kind: api.KindNodeState}, Generation: gen}
	for _, n := range pods {
		d.Pods = append(d.Pods, testPod(n, gen))
	}
	return d
}

func podNames(m *Merged) []string {
	var out []string
	for _, p := range m.Pods {
		out = append(out, p.Pod.Metadata.Name)
	}
	return out
}

func uidsOf(m *Merged) map[string]string {
	out := map[string]string{}
	for _, p := range m.Pods {
		out[p.Pod.Metadata.Name] = p.UID
	}
	return out
}

func mustApply(t testing.TB, s *Store, src Source, doc *api.NodeState) ApplyResult {
	t.Helper()
	res, err := s.Apply(context.Background(), src, doc)
	if err != nil {
		t.Fatalf("Apply %s generation %d: %v", src, doc.Generation, err)
	}
	return res
}

func mustDesired(t testing.TB, s *Store) *Merged {
	t.Helper()
	m, err := s.Desired(context.Background())
	if err != nil {
		t.Fatalf("Desired: %v", err)
	}
	return m
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
