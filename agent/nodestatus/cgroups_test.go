package nodestatus

import (
	"errors"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/api"
)

func TestCheckCgroups(t *testing.T) {
	v1 := func(s *fakeSystem) {
		delete(s.files, pathCgroup2)
		s.files[pathMountInfo], s.files[pathCgroups] = mountInfoV1, procCgroupsV1
	}
	tests := []struct {
		name string
		sys  func(*fakeSystem)
		want []string // in the error, in order; nil: no error
	}{
		{name: "v2"},
		{name: "v1", sys: v1},
		{
			name: "v2 without memory (Raspberry Pi OS default)",
			sys:  func(s *fakeSystem) { s.files[pathCgroup2] = "cpuset cpu io pids\n" },
			want: []string{"memory cgroup controller is not available (cgroup v2)",
				"add cgroup_enable=memory cgroup_memory=1 to the kernel command line", "cmdline.txt"},
		},
		{
			name: "v1 memory disabled on the command line",
			sys: func(s *fakeSystem) {
				v1(s)
				s.files[pathCgroups] = strings.Replace(procCgroupsV1, "memory\t6\t80\t1", "memory\t0\t1\t0", 1)
				s.files[pathCmdline] = "root=/dev/mmcblk0p2 cgroup_disable=memory rootwait\n"
			},
			want: []string{"memory cgroup controller is not available (cgroup v1)",
				"remove cgroup_disable=memory and add cgroup_enable=memory cgroup_memory=1"},
		},
		{
			name: "v1 without a pids hierarchy",
			sys: func(s *fakeSystem) {
				v1(s)
				s.files[pathMountInfo] = strings.Replace(mountInfoV1, "rw,pids", "rw,name=other", 1)
			},
			want: []string{"the pids cgroup controller is not available", "cgroup_enable=pids"},
		},
		{
			name: "v2 without memory and pids",
			sys:  func(s *fakeSystem) { s.files[pathCgroup2] = "cpu io\n" },
			want: []string{"the memory, pids cgroup controllers are not available"},
		},
		{
			name: "no cgroup mount",
			sys: func(s *fakeSystem) {
				s.files[pathMountInfo] = "22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/root rw\n"
			},
			want: []string{"no cgroup mount found in /proc/self/mountinfo", "mount cgroup2 on /sys/fs/cgroup"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := newFakePi()
			if tt.sys != nil {
				tt.sys(sys)
			}
			err := CheckCgroups(sys)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckCgroups: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrCgroups) {
				t.Fatalf("CheckCgroups = %v, want ErrCgroups", err)
			}
			rest := err.Error()
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error %q lacks %q (in order)", err, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

// TestCgroupsMakeNodeNotReady: containerd answers, but containers cannot
// run: Ready is False with the fix, and True again once the node has the
// controller (after the reboot).
func TestCgroupsMakeNodeNotReady(t *testing.T) {
	sys := newFakePi()
	sys.files[pathCgroup2] = "cpuset cpu io pids\n"
	clock := &fakeClock{t0}
	c := newTestCollector(sys, clock, nil)
	r := condMap(collect(t, c))[api.NodeReady]
	if r.Status != api.ConditionFalse || r.Reason != ReasonCgroupsUnusable || !strings.Contains(r.Message, "cgroup_enable=memory") {
		t.Fatalf("Ready = %+v", r)
	}
	sys.files[pathCgroup2] = "cpuset cpu io memory pids\n"
	clock.Advance(10e9)
	if r := condMap(collect(t, c))[api.NodeReady]; r.Status != api.ConditionTrue || r.Reason != ReasonReady {
		t.Fatalf("Ready with the controller back = %+v", r)
	}
}

// TestCheckCgroupsHost: this machine runs the project's containers, so its
// cgroups pass.
func TestCheckCgroupsHost(t *testing.T) {
	if err := CheckCgroups(Host{}); err != nil {
		t.Fatal(err)
	}
}
