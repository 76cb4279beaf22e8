// Package vmtest runs a command inside a Debian kernel booted under
// qemu-system, for the tests that need a kernel configuration this machine
// does not have (cgroup v2 only, where the host is cgroup v1 hybrid).
//
// The guest is small and borrows everything from the host: its root is the
// host's root filesystem, shared read-only over 9p, with tmpfs on /tmp, /run
// and /var/tmp; the kernel and its modules come from Debian's linux-image
// package, downloaded once with apt-get into a cache directory. The guest
// loads modules on demand from that unpacked package (the kernel's modprobe
// helper points into it), so runc, the CNI plugins, busybox and the test
// binary are the host's own. A job directory shared read-write carries the
// script in and the output and exit code back.
//
// The guest runs under TCG (software emulation) unless OUTPOST_VMTEST_ACCEL=kvm
// asks for KVM; see useKVM.
package vmtest
