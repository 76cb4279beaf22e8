package containerspec

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestCapabilityPolicy(t *testing.T) {
	allow := Policy{AllowPrivileged: true}
	tests := []struct {
		name      string
		container string
		policy    Policy
		refused   []string // capabilities the error must name; nil for a spec
		check     func(t *testing.T, s *specs.Spec)
	}{
		{"SYS_ADMIN", "securityContext: {capabilities: {add: [SYS_ADMIN]}}", Policy{}, []string{"SYS_ADMIN"}, nil},
		{"ALL", "securityContext: {capabilities: {add: [ALL]}}", Policy{}, []string{"ALL"}, nil},
		{"CAP_ prefix and lower case", "securityContext: {capabilities: {add: [CAP_SYS_MODULE, sys_rawio]}}", Policy{}, []string{"SYS_MODULE", "SYS_RAWIO"}, nil},
		{"NET_ADMIN", "securityContext: {capabilities: {add: [NET_ADMIN], drop: [CAP_NET_RAW]}}", Policy{}, []string{"NET_ADMIN"}, nil},
		{"one refused among safe ones", "securityContext: {capabilities: {add: [CHOWN, SYS_PTRACE, KILL]}}", Policy{}, []string{"SYS_PTRACE"}, nil},
		{"hostPath policy does not allow capabilities", "securityContext: {capabilities: {add: [BPF]}}", Policy{HostPathPrefixes: []string{"/srv"}}, []string{"BPF"}, nil},
		{"drop ALL, add back default ones", "securityContext: {capabilities: {add: [CHOWN, CAP_NET_RAW, net_bind_service], drop: [ALL]}}", Policy{}, nil,
			func(t *testing.T, s *specs.Spec) {
				if b := s.Process.Capabilities.Bounding; !slices.Equal(b, []string{"CAP_CHOWN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"}) {
					t.Errorf("caps = %v", b)
				}
			}},
		{"drops are always allowed", "securityContext: {capabilities: {drop: [ALL, SYS_ADMIN]}}", Policy{}, nil,
			func(t *testing.T, s *specs.Spec) {
				if b := s.Process.Capabilities.Bounding; len(b) != 0 {
					t.Errorf("caps = %v", b)
				}
			}},
		{"add and drop with allowPrivileged", "securityContext: {capabilities: {add: [NET_ADMIN], drop: [CAP_NET_RAW]}}", allow, nil,
			func(t *testing.T, s *specs.Spec) {
				b := s.Process.Capabilities.Bounding
				if !slices.Contains(b, "CAP_NET_ADMIN") || slices.Contains(b, "CAP_NET_RAW") || !slices.Contains(b, "CAP_CHOWN") {
					t.Errorf("caps = %v", b)
				}
			}},
		{"SYS_MODULE with allowPrivileged, and seccomp follows", "securityContext: {capabilities: {add: [SYS_MODULE]}}", allow, nil,
			func(t *testing.T, s *specs.Spec) {
				if !slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_MODULE") || !seccompAllows(s, "init_module") {
					t.Errorf("caps = %v, init_module allowed %v", s.Process.Capabilities.Bounding, seccompAllows(s, "init_module"))
				}
			}},
		{"ALL with allowPrivileged", "securityContext: {capabilities: {add: [ALL]}}", allow, nil,
			func(t *testing.T, s *specs.Spec) {
				if !slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") {
					t.Errorf("caps = %v", s.Process.Capabilities.Bounding)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := generate(t, basePod(t, tt.container), busybox, tt.policy)
			if tt.refused == nil {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, s)
				return
			}
			if !errors.Is(err, ErrForbidden) {
				t.Fatalf("err = %v, want ErrForbidden", err)
			}
			want := `container "c": securityContext.capabilities.add ` + strings.Join(tt.refused, ", ") + ": forbidden by node policy: without runtime.allowPrivileged"
			if !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("err = %v\nwant %s...", err, want)
			}
		})
	}
}

// TestSafeCapabilitiesAreTheDefault: the capabilities a container may add
// without allowPrivileged are exactly those it has by default, so dropping
// ALL and adding some back never gains anything.
func TestSafeCapabilitiesAreTheDefault(t *testing.T) {
	s, err := generate(t, basePod(t, ""), busybox, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	var defaults []string
	for _, c := range s.Process.Capabilities.Bounding {
		defaults = append(defaults, strings.TrimPrefix(c, "CAP_"))
	}
	slices.Sort(defaults)
	if !slices.Equal(defaults, safeCapabilities) {
		t.Errorf("default capabilities %v, safe set %v", defaults, safeCapabilities)
	}
	if seccompAllows(s, "init_module") {
		t.Error("the default seccomp profile allows init_module")
	}
}

// seccompAllows reports whether the spec's seccomp profile allows syscall.
func seccompAllows(s *specs.Spec, syscall string) bool {
	if s.Linux.Seccomp == nil {
		return true
	}
	for _, sc := range s.Linux.Seccomp.Syscalls {
		if sc.Action == specs.ActAllow && slices.Contains(sc.Names, syscall) {
			return true
		}
	}
	return false
}
