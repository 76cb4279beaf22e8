package podfiles

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolvConf(t *testing.T) {
	tests := []struct {
		name           string
		host, upstream string
		want           []string
		notWant        []string
		n              int
	}{
		{"plain", "nameserver 192.0.2.53\nsearch lan\noptions ndots:2\n", "", []string{"nameserver 192.0.2.53", "search lan", "options ndots:2"}, nil, 1},
		{"loopback dropped", "nameserver 127.0.0.53\nnameserver 192.0.2.1\n", "", []string{"nameserver 192.0.2.1"}, []string{"127.0.0.53"}, 1},
		{"systemd-resolved upstream", "nameserver 127.0.0.53\nsearch lan\n", "nameserver 198.51.100.7\n", []string{"nameserver 198.51.100.7"}, []string{"127.0.0.53"}, 1},
		{"nothing usable", "nameserver ::1\n", "", nil, []string{"::1"}, 0},
		{"junk ignored", "sortlist x\nnameserver\nnameserver notanip\n# c\n", "", nil, []string{"sortlist", "notanip"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var up []byte
			if tt.upstream != "" {
				up = []byte(tt.upstream)
			}
			out, n := ResolvConf([]byte(tt.host), up)
			if n != tt.n {
				t.Errorf("nameservers = %d, want %d", n, tt.n)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("%q lacks %q", out, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(string(out), w) {
					t.Errorf("%q has %q", out, w)
				}
			}
		})
	}
}

func TestHostsAndWrite(t *testing.T) {
	d := Dir(t.TempDir())
	if err := WriteFile(d.Hosts(), HostsFile("web", netip.MustParseAddr("10.88.0.5"))); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(d.Hosts())
	if err != nil || !strings.Contains(string(b), "10.88.0.5\tweb\n") || !strings.Contains(string(b), "127.0.0.1\tlocalhost") {
		t.Fatalf("hosts = %q, %v", b, err)
	}
	entries, _ := os.ReadDir(string(d))
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
	if got := d.Volume("data"); got != filepath.Join(string(d), "volumes", "data") {
		t.Errorf("Volume = %s", got)
	}
}
