// Package podfiles lays out a pod's directory on the host: its /etc/hosts,
// /etc/resolv.conf and emptyDir volumes. Files are written atomically
// (temp file + rename) so a container never reads a half-written one; they
// are not fsynced, as every sandbox setup writes them again.
package podfiles

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Dir is one pod's directory: <data>/pods/<uid>.
type Dir string

// Hosts, ResolvConf and Volume are the paths inside a pod directory.
func (d Dir) Hosts() string             { return filepath.Join(string(d), "hosts") }
func (d Dir) ResolvConf() string        { return filepath.Join(string(d), "resolv.conf") }
func (d Dir) Volume(name string) string { return filepath.Join(string(d), "volumes", name) }
func (d Dir) Logs() string              { return filepath.Join(string(d), "logs") }

// Subpaths holds, in a directory per container ID, the private mount
// points of the volume sources containers are given by descriptor
// (runtime/safepath). Nothing may be removed below it recursively while
// something is mounted there.
func (d Dir) Subpaths() string { return filepath.Join(string(d), "subpaths") }

// ContainerLog is the log file of one start (attempt) of a container:
// logs/<container>/<attempt>.log, so the previous attempt's log stays readable.
func (d Dir) ContainerLog(c string, attempt int) string {
	return filepath.Join(d.Logs(), c, strconv.Itoa(attempt)+".log")
}

// LogAttempt parses the attempt out of the name of a file in a container's
// log directory: <attempt>.log, a rotated <attempt>.log.N, or a rotation's
// leftover <attempt>.log.tmp.
func LogAttempt(name string) (int, bool) {
	num, rest, ok := strings.Cut(name, ".")
	if !ok || (rest != "log" && !strings.HasPrefix(rest, "log.")) {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || strconv.Itoa(n) != num {
		return 0, false
	}
	return n, true
}

// HostsFile is the pod's /etc/hosts: localhost and the pod's own name on its IP.
func HostsFile(hostname string, ip netip.Addr) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by outpost for this pod.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	if ip.IsValid() {
		fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
	}
	return b.Bytes()
}

// ResolvConf derives the pod's resolv.conf from the host's: nameservers on
// loopback (systemd-resolved's 127.0.0.53, a local dnsmasq) cannot be reached
// from the pod's network namespace, so they are dropped; when none is left
// the upstream file of systemd-resolved is tried. The result may have no
// nameserver at all; the caller reports that.
func ResolvConf(host []byte, upstream []byte) (conf []byte, nameservers int) {
	out, n := filterResolv(host)
	if n == 0 && upstream != nil {
		out, n = filterResolv(upstream)
	}
	return out, n
}

func filterResolv(in []byte) ([]byte, int) {
	var b bytes.Buffer
	b.WriteString("# Written by outpost from the node's resolv.conf.\n")
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(in))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") || strings.HasPrefix(fields[0], ";") {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if len(fields) < 2 {
				continue
			}
			addr, err := netip.ParseAddr(fields[1])
			if err != nil || addr.IsLoopback() {
				continue
			}
			n++
		case "search", "domain", "options":
		default:
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.Bytes(), n
}

// WriteFile writes data to path atomically with mode 0644.
func WriteFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
