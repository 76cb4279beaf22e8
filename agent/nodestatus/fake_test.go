package nodestatus

import (
	"fmt"
	"io/fs"
	"net/netip"
	"time"
)

// fakeSystem is a machine made of fixed file contents.
type fakeSystem struct {
	files  map[string]string
	statfs map[string]FSStats
	uname  Uname
	host   string
	ifs    []Interface
	ncpu   int
}

func (f *fakeSystem) ReadFile(path string) ([]byte, error) {
	s, ok := f.files[path]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", path, fs.ErrNotExist)
	}
	return []byte(s), nil
}

func (f *fakeSystem) Exists(path string) bool { _, ok := f.files[path]; return ok }

func (f *fakeSystem) Statfs(path string) (FSStats, error) {
	st, ok := f.statfs[path]
	if !ok {
		return FSStats{}, fmt.Errorf("statfs %s: %w", path, fs.ErrNotExist)
	}
	return st, nil
}

func (f *fakeSystem) Uname() (Uname, error)            { return f.uname, nil }
func (f *fakeSystem) Hostname() (string, error)        { return f.host, nil }
func (f *fakeSystem) Interfaces() ([]Interface, error) { return f.ifs, nil }
func (f *fakeSystem) NumCPU() int                      { return f.ncpu }

const (
	mi = int64(1) << 20
	gi = int64(1) << 30
)

// newFakePi is a 1 GB, 4-core board on cgroup v2 with a 32 GB SD card.
func newFakePi() *fakeSystem {
	return &fakeSystem{
		files: map[string]string{
			pathMemInfo:    "MemTotal:        1000000 kB\nMemFree:          200000 kB\nMemAvailable:     500000 kB\n",
			pathLoadAvg:    "0.10 0.20 0.30 2/200 12345\n",
			pathPIDMax:     "32768\n",
			pathThreadsMax: "7000\n",
			pathBootID:     "0f3e1b1c-aaaa-bbbb-cccc-123456789abc\n",
			pathMachineID:  "d1f0c2a3b4c5d6e7f8091a2b3c4d5e6f\n",
			pathOSRelease:  "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
			pathCPUOnline:  "0-3\n",
			pathCgroup2:    "cpuset cpu io memory pids\n",
			pathMountInfo:  mountInfoV2,
			pathCmdline:    "console=serial0,115200 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait\n",
			pathRoute4: "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
				"wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n" +
				"eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
				"eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n",
		},
		statfs: map[string]FSStats{
			"/var/lib/outpost": {Capacity: 32 * gi, Available: 20 * gi, Inodes: 2000000, InodesFree: 1500000},
		},
		uname: Uname{Sysname: "Linux", Release: "6.6.31+rpt-rpi-v8", Machine: "aarch64"},
		host:  "pi-kitchen",
		ifs: []Interface{
			{Name: "lo", Up: true, Loopback: true, Addrs: addrs("127.0.0.1", "::1")},
			{Name: "eth0", Up: true, Addrs: addrs("fe80::1", "192.168.1.20")},
			{Name: "wlan0", Up: true, Addrs: addrs("192.168.1.21")},
			{Name: "outpost0", Up: true, Addrs: addrs("10.88.0.1")},
		},
		ncpu: 4,
	}
}

// Mount tables of a board on cgroup v2 (Raspberry Pi OS bookworm) and of
// one on cgroup v1 (buster), as /proc/self/mountinfo lists them.
const (
	mountInfoV2 = `22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/root rw
25 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
29 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	mountInfoV1 = `22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/root rw
31 25 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:30 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
36 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
37 31 0:34 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
`
	procCgroupsV1 = `#subsys_name	hierarchy	num_cgroups	enabled
cpuset	4	1	1
cpu	5	60	1
cpuacct	5	60	1
memory	6	80	1
pids	7	60	1
`
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
