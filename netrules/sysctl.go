package netrules

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The rules need the node to route: pods' traffic is forwarded, and a
// DNATed packet leaves by another interface. These helpers write the
// sysctls of the calling thread's network namespace; the caller decides
// whether to use them (the agent on the host, tests inside their
// namespaces only).

// EnableForwarding sets net.ipv4.ip_forward=1.
func EnableForwarding() error { return setSysctl("net/ipv4/ip_forward", "1") }

// EnableRouteLocalnet sets net.ipv4.conf.all.route_localnet=1, which
// Config.LocalhostNodePorts needs: without it the kernel drops a packet
// from 127.0.0.1 that DNAT sends to a pod.
func EnableRouteLocalnet() error { return setSysctl("net/ipv4/conf/all/route_localnet", "1") }

// setSysctl writes value to /proc/sys/name unless it already holds it.
func setSysctl(name, value string) error {
	p := filepath.Join("/proc/sys", name)
	if cur, err := os.ReadFile(p); err == nil && string(bytes.TrimSpace(cur)) == value {
		return nil
	}
	if err := os.WriteFile(p, []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("netrules: set %s=%s: %w", strings.ReplaceAll(name, "/", "."), value, err)
	}
	return nil
}
