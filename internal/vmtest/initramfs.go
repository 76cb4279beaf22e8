package vmtest

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// bootModules are what the initramfs needs to mount the 9p shares; the
// guest loads everything else on demand from the kernel share.
var bootModules = []string{"virtio_pci", "9pnet_virtio", "9p"}

// initScript is /init: mount the host's root over 9p, give it fresh
// kernel filesystems, cgroup v2 alone on /sys/fs/cgroup and tmpfs where the
// tests write, then switch to it and run the job's guest.sh.
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "OUTPOST-VM-FAILED: $*"; echo o > /proc/sysrq-trigger; sleep 10; }
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for ko in $(cat /modules.load); do insmod "/modules/$ko" || fail "insmod $ko"; done
opts=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$opts,ro,cache=loose" hostroot /newroot || fail "mount host root"
mount -t proc proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
mount -t cgroup2 -o nsdelegate cgroup2 /newroot/sys/fs/cgroup || fail "mount cgroup2"
for d in tmp run var/tmp; do mount -t tmpfs -o mode=1777 tmpfs "/newroot/$d" || fail "tmpfs /$d"; done
mkdir -p /newroot/run/job /newroot/run/kernel
mount -t 9p -o "$opts,cache=none" job /newroot/run/job || fail "mount job"
mount -t 9p -o "$opts,ro,cache=loose" kernel /newroot/run/kernel || fail "mount kernel"
exec switch_root /newroot /bin/sh /run/job/guest.sh
`

// buildInitramfs writes a gzip-less newc archive with a static busybox, the
// boot modules of k and /init.
func buildInitramfs(ctx context.Context, k *Kernel, busybox, out string) error {
	if err := requireStatic(busybox); err != nil {
		return err
	}
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	mods, err := moduleFiles(ctx, k, bootModules)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	w := newCPIO(&buf)
	for _, d := range []string{"bin", "dev", "proc", "sys", "newroot", "modules"} {
		if err := w.Dir(d); err != nil {
			return err
		}
	}
	if err := w.File("bin/busybox", 0o755, bb); err != nil {
		return err
	}
	var order []string
	for _, m := range mods {
		body, err := os.ReadFile(m)
		if err != nil {
			return err
		}
		name := filepath.Base(m)
		if err := w.File("modules/"+name, 0o644, body); err != nil {
			return err
		}
		order = append(order, name)
	}
	if err := w.File("modules.load", 0o644, []byte(strings.Join(order, "\n")+"\n")); err != nil {
		return err
	}
	if err := w.File("init", 0o755, []byte(initScript)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

// moduleFiles lists the .ko files of names and their dependencies in load
// order, as modprobe resolves them against the unpacked package.
func moduleFiles(ctx context.Context, k *Kernel, names []string) ([]string, error) {
	seen := map[string]bool{}
	var files []string
	for _, n := range names {
		out, err := output(ctx, modprobe(), "-d", k.Modules(), "-S", k.Version, "--show-depends", n)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "insmod" || seen[f[1]] {
				continue
			}
			seen[f[1]] = true
			files = append(files, f[1])
		}
	}
	return files, nil
}

// requireStatic refuses a dynamically linked busybox: the initramfs has no
// libc (Debian's busybox-static is static; plain busybox is not).
func requireStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("busybox %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("busybox %s is dynamically linked; install busybox-static", path)
		}
	}
	return nil
}
