package shim

import "testing"

func TestIsShimInvocation(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want bool
	}{
		{"no args", nil, false},
		{"agent alone", []string{"/usr/bin/outpost"}, false},
		{"agent subcommand", []string{"/usr/bin/outpost", "run"}, false},
		{"agent help", []string{"/usr/bin/outpost", "--help"}, false},
		{"containerd start", []string{"/usr/bin/outpost", "-namespace", "outpost", "-address", "/run/o/c.sock", "-publish-binary", "/usr/bin/outpost", "-id", "x", "start"}, true},
		{"shim daemon re-exec", []string{"/usr/bin/outpost", "-namespace", "outpost", "-id", "x", "-address", "/run/o/c.sock"}, true},
		{"info", []string{"/usr/bin/outpost", "-info"}, true},
		{"version", []string{"/usr/bin/outpost", "-v"}, true},
		{"double dash flag with value", []string{"/usr/bin/outpost", "--namespace=outpost", "delete"}, true},
		{"named shim binary", []string{"/usr/local/bin/containerd-shim-outpost-v2"}, true},
		{"go test binary", []string{"/tmp/go-build1/b001/ctrd.test", "-test.v=true", "-test.run", "TestX"}, false},
		{"go test binary paniconexit", []string{"/tmp/ctrd.test", "-test.paniconexit0", "-test.timeout=10m0s"}, false},
		{"go test binary as shim", []string{"/tmp/ctrd.test", "-namespace", "outpost", "-id", "x", "-address", "/a"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsShimInvocation(tt.args); got != tt.want {
				t.Errorf("IsShimInvocation(%q) = %v, want %v", tt.args, got, tt.want)
			}
		})
	}
}
