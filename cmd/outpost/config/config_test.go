package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // substring of the error; "" for success
	}{
		{"empty file means defaults", "", ""},
		{"override", "nodeName: pi-7\nlog: {level: debug}\nnetwork: {serviceCIDR: 10.96.0.0/12}\n", ""},
		{"unknown key", "nodname: x\n", "field nodname not found"},
		{"node name rule", "nodeName: auto\nnodeNamePrefix: farm-north\n", ""},
		{"empty node name is the rule", "nodeName: \"\"\n", ""},
		{"node name not a topic level", "nodeName: pumps/7\n", `nodeName: invalid topic: topic level "pumps/7" holds '/'`},
		{"bad prefix", "nodeNamePrefix: Farm_1\n", `nodeNamePrefix: must be 1 to 54 lower-case letters`},
		{"empty prefix", "nodeNamePrefix: \"\"\n", `nodeNamePrefix: must be`},
		{"unknown nested key", "log: {colour: true}\n", "field colour not found"},
		{"bad level", "log: {level: loud}\n", `log.level: must be trace, debug, info, warn or error, not "loud"`},
		{"relative data dir", "dataDir: var/lib\n", `dataDir: must be an absolute path, not "var/lib"`},
		{"cidr host bits", "network: {serviceCIDR: 10.43.0.1/16}\n", "did you mean 10.43.0.0/16"},
		{"ipv6 services", "network: {serviceCIDR: \"fd00:43::/112\"}\n", "services are IPv4 only"},
		{"outbox too small for an event", "store: {outboxMaxBytes: 2048}\n", "store.outboxMaxBytes: must be at least 65536"},
		{"two problems", "log: {level: x, format: y}\n", "log.format"},
		{"wrong type", "store: {outboxMaxMessages: lots}\n", "cannot unmarshal"},
		{"runtime keys", "runtime: {allowPrivileged: true, hostPathPrefixes: [/srv/data], logMaxSize: 1Mi}\ncontainerd: {address: /run/containerd/containerd.sock}\n", ""},
		{"pod cidr", "network: {podCIDR: 10.88.0.0/30}\n", "network.podCIDR"},
		{"long state dir", "containerd: {stateDir: /var/lib/a/very/long/path/that/breaks/shim/sockets}\n", "containerd.stateDir: must be an absolute path of at most 40 characters"},
		{"relative host path prefix", "runtime: {hostPathPrefixes: [srv]}\n", "runtime.hostPathPrefixes[0]"},
		{"log size", "runtime: {logMaxSize: 10MB}\n", "runtime.logMaxSize"},
		{"registries", "images: {registries: {mirrors: {docker.io: [\"http://10.0.0.5:5000\"]}}}\n", "images.registries"},
		{"node", "node: {maxPods: 20, reservedMemory: 256Mi, reservedCPU: 0.5, evictionHard: [memory.available<50Mi]}\npods: {backoffInitial: 1s}\n", ""},
		{"bad threshold", "node: {evictionHard: [memory.free<50Mi]}\n", "node.evictionHard[0]"},
		{"bad reserved", "node: {reservedMemory: lots}\n", "invalid quantity"},
		{"gc thresholds", "images: {gcHighPercent: 70, gcLowPercent: 80}\n", "images.gcHighPercent"},
		{"localhost node ports", "network: {localhostNodePorts: true}\n", ""},
		{"localhost node ports not a bool", "network: {localhostNodePorts: sometimes}\n", "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			err := Parse([]byte(tt.in), &cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml"), true); err != nil {
		t.Fatalf("optional missing file: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml"), false); err == nil {
		t.Fatal("required missing file accepted")
	}
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("nodeName: edge-1\ngroups: [north, pumps]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p, false)
	if err != nil || cfg.NodeName != "edge-1" || len(cfg.Groups) != 2 || cfg.DataDir != "/var/lib/outpost" {
		t.Fatalf("Load = %+v, %v", cfg, err)
	}
}

func TestLocalhostNodePorts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"off by default", "", false},
		{"on", "network: {localhostNodePorts: true}\n", true},
		{"off", "network: {localhostNodePorts: false}\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			if err := Parse([]byte(tt.in), &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.Net.LocalhostNodePorts != tt.want {
				t.Fatalf("LocalhostNodePorts = %v, want %v", cfg.Net.LocalhostNodePorts, tt.want)
			}
		})
	}
}

func TestEvictionHard(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // nil: the defaults; empty: none
	}{
		{"unset keeps the defaults", "", []string{"memory.available<100Mi", "nodefs.available<10%", "nodefs.inodesFree<5%", "pid.available<5%"}},
		{"explicit list", "node: {evictionHard: [memory.available<50Mi]}\n", []string{"memory.available<50Mi"}},
		{"empty list turns hard eviction off", "node: {evictionHard: []}\n", []string{}},
		{"null keeps the defaults", "node: {evictionHard: null}\n", []string{"memory.available<100Mi", "nodefs.available<10%", "nodefs.inodesFree<5%", "pid.available<5%"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			if err := Parse([]byte(tt.in), &cfg); err != nil {
				t.Fatal(err)
			}
			got := cfg.Node.Thresholds()
			// nodestatus.New turns nil into its defaults: only a non-nil
			// empty list means no thresholds.
			if got == nil {
				t.Fatalf("Thresholds() = nil, want %v", tt.want)
			}
			var s []string
			for _, th := range got {
				s = append(s, th.String())
			}
			if strings.Join(s, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("Thresholds() = %v, want %v", s, tt.want)
			}
		})
	}
}

// TestEveryKeyDocumented: every key of Config (struct fields, followed
// down to maps and lists) has a row in docs/config.md. A row's first cell
// names keys in backquotes; "`.max`" after "`mqtt.backoff.min`" is
// "mqtt.backoff.max".
func TestEveryKeyDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(line, "| `") {
			continue
		}
		parent := ""
		for _, f := range strings.Split(cells[1], "`")[1:] {
			f = strings.TrimSpace(f)
			switch {
			case f == "" || f == ",":
			case strings.HasPrefix(f, "."):
				documented[parent+f] = true
			default:
				documented[f] = true
				if i := strings.LastIndex(f, "."); i >= 0 {
					parent = f[:i]
				}
			}
		}
	}
	unmarshaler := reflect.TypeFor[yaml.Unmarshaler]()
	var keys []string
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			key := prefix + name
			// A struct that decodes itself (api.Quantity) is one value.
			if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(unmarshaler) {
				walk(key+".", f.Type)
				continue
			}
			keys = append(keys, key)
		}
	}
	walk("", reflect.TypeOf(Config{}))
	if len(keys) < 40 {
		t.Fatalf("only %d keys found: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !documented[k] {
			t.Errorf("%s is not in docs/config.md", k)
		}
	}
}
