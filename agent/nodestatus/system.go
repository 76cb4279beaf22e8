package nodestatus

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	goruntime "runtime"

	"golang.org/x/sys/unix"
)

// System is every read the collector makes of the machine. Host reads the
// real one; tests hand in a fake holding file contents, so the parsing of
// /proc and /etc is exercised against fixed text.
type System interface {
	// ReadFile reads a /proc, /sys or /etc file.
	ReadFile(path string) ([]byte, error)
	// Exists reports whether path exists (cgroup v2 detection).
	Exists(path string) bool
	Statfs(path string) (FSStats, error)
	Uname() (Uname, error)
	Hostname() (string, error)
	Interfaces() ([]Interface, error)
	// NumCPU is the fallback when the online CPU list cannot be read.
	NumCPU() int
}

// FSStats is the size of one filesystem, in bytes and inodes.
type FSStats struct {
	Capacity   int64
	Available  int64 // to unprivileged users (statfs f_bavail)
	Inodes     int64
	InodesFree int64
}

// Uname is the part of uname(2) the node reports.
type Uname struct {
	Sysname string // "Linux"
	Release string // kernel version, "6.1.0-rpi7-rpi-v8"
	Machine string // "aarch64"
}

// Interface is one network interface and its addresses.
type Interface struct {
	Name     string
	Up       bool
	Loopback bool
	Addrs    []netip.Addr
}

// Host is the System of the machine the agent runs on.
type Host struct{}

var _ System = Host{}

func (Host) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

func (Host) Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (Host) Statfs(path string) (FSStats, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return FSStats{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bsize := int64(st.Bsize) // int32 on 32-bit arm
	return FSStats{
		Capacity:   int64(st.Blocks) * bsize,
		Available:  int64(st.Bavail) * bsize,
		Inodes:     int64(st.Files),
		InodesFree: int64(st.Ffree),
	}, nil
}

func (Host) Uname() (Uname, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return Uname{}, fmt.Errorf("uname: %w", err)
	}
	return Uname{
		Sysname: unix.ByteSliceToString(u.Sysname[:]),
		Release: unix.ByteSliceToString(u.Release[:]),
		Machine: unix.ByteSliceToString(u.Machine[:]),
	}, nil
}

func (Host) Hostname() (string, error) { return os.Hostname() }

// Interfaces lists the interfaces; a machine with no network at all has
// only lo, and a failure to read one interface's addresses skips it.
func (Host) Interfaces() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	out := make([]Interface, 0, len(ifs))
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		i := Interface{Name: ifc.Name, Up: ifc.Flags&net.FlagUp != 0, Loopback: ifc.Flags&net.FlagLoopback != 0}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					i.Addrs = append(i.Addrs, ip.Unmap())
				}
			}
		}
		out = append(out, i)
	}
	return out, nil
}

func (Host) NumCPU() int { return goruntime.NumCPU() }
