package vmtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"
)

// Job is one boot of the guest running one script.
type Job struct {
	Kernel *Kernel
	// Busybox is a static busybox for the initramfs (default /bin/busybox).
	Busybox string
	// Dir is the job directory, shared read-write as /run/job; the script
	// runs there and may use files the caller put in it.
	Dir string
	// Script is the shell run in the guest; its exit code is the result.
	Script string
	// MemoryMiB and CPUs size the guest (defaults 2048 and the host's CPUs).
	MemoryMiB, CPUs int
	// Console receives the guest's serial console as it comes.
	Console io.Writer
}

// Result is what a finished job left.
type Result struct {
	ExitCode int
	// Output is the script's combined stdout and stderr.
	Output string
	// Accel is "kvm" or "tcg".
	Accel string
	// Boot is the time from starting qemu to the guest reporting ready.
	Boot time.Duration
}

// ErrUnsupported is returned where this package cannot boot a guest.
var ErrUnsupported = errors.New("vmtest: unsupported host")

const readyLine = "OUTPOST-VM-READY"

// guestScript runs as the guest's PID 1 after switch_root.
const guestScript = `export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp
echo /run/job/modprobe > /proc/sys/kernel/modprobe
ip link set lo up
hostname outpost-vm
echo "` + readyLine + ` cgroup=$(stat -fc %T /sys/fs/cgroup) kernel=$(uname -r) cpus=$(nproc)"
cd /run/job
{ sh ./job.sh; echo $? > /run/job/rc; } 2>&1 | tee /run/job/output.log
sync
echo o > /proc/sysrq-trigger
sleep 10
`

// Qemu is the emulator this host boots its own architecture with.
func Qemu() (string, error) {
	if goruntime.GOARCH != "amd64" {
		return "", fmt.Errorf("%w: guests are booted on amd64 hosts only (this is %s)", ErrUnsupported, goruntime.GOARCH)
	}
	return exec.LookPath("qemu-system-x86_64")
}

// useKVM reports whether to run the guest under KVM: only when asked with
// OUTPOST_VMTEST_ACCEL=kvm and /dev/kvm opens. TCG is the default because
// the CI machines are themselves VMs whose /dev/kvm opens but hangs a guest
// kernel right after decompression (nested virtualisation); TCG always works.
func useKVM() bool {
	if os.Getenv("OUTPOST_VMTEST_ACCEL") != "kvm" {
		return false
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// Run boots the guest, runs job.Script in it and returns its result. The
// guest powers itself off when the script ends; ctx bounds the whole boot.
func Run(ctx context.Context, job Job) (*Result, error) {
	qemu, err := Qemu()
	if err != nil {
		return nil, err
	}
	if job.Busybox == "" {
		job.Busybox = "/bin/busybox"
	}
	if job.MemoryMiB == 0 {
		job.MemoryMiB = 2048
	}
	if job.CPUs == 0 {
		job.CPUs = goruntime.NumCPU()
	}
	if job.Console == nil {
		job.Console = io.Discard
	}
	if err := writeJobFiles(job); err != nil {
		return nil, err
	}
	initrd := filepath.Join(job.Dir, ".initrd")
	if err := buildInitramfs(ctx, job.Kernel, job.Busybox, initrd); err != nil {
		return nil, err
	}
	defer os.Remove(initrd)

	res := &Result{Accel: "tcg"}
	accel := []string{"-accel", "tcg,thread=multi", "-cpu", "max"}
	if useKVM() {
		res.Accel = "kvm"
		accel = []string{"-accel", "kvm", "-cpu", "host"}
	}
	share := func(tag, path, extra string) []string {
		return []string{"-virtfs", "local,path=" + path + ",mount_tag=" + tag + ",security_model=passthrough" + extra}
	}
	args := append(accel,
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-serial", "stdio",
		"-m", strconv.Itoa(job.MemoryMiB), "-smp", strconv.Itoa(job.CPUs),
		"-kernel", job.Kernel.Image(), "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init")
	args = append(args, share("hostroot", "/", ",readonly=on,multidevs=remap")...)
	args = append(args, share("kernel", job.Kernel.Root, ",readonly=on")...)
	args = append(args, share("job", job.Dir, "")...)

	cmd := exec.CommandContext(ctx, qemu, args...)
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", qemu, err)
	}
	var tail []string
	failed := ""
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		fmt.Fprintln(job.Console, line)
		if strings.HasPrefix(line, readyLine) && res.Boot == 0 {
			res.Boot = time.Since(began)
		}
		if i := strings.Index(line, "OUTPOST-VM-FAILED: "); i >= 0 {
			failed = line[i:]
		}
		if tail = append(tail, line); len(tail) > 20 {
			tail = tail[1:]
		}
	}
	waitErr := cmd.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("guest did not finish: %w", ctx.Err())
	}
	if failed != "" {
		return nil, errors.New(failed)
	}
	rc, err := os.ReadFile(filepath.Join(job.Dir, "rc"))
	if err != nil {
		return nil, fmt.Errorf("guest left no exit code (qemu: %v); last console lines:\n%s", waitErr, strings.Join(tail, "\n"))
	}
	if res.ExitCode, err = strconv.Atoi(strings.TrimSpace(string(rc))); err != nil {
		return nil, fmt.Errorf("guest exit code %q: %w", rc, err)
	}
	out, _ := os.ReadFile(filepath.Join(job.Dir, "output.log"))
	res.Output = string(out)
	return res, nil
}

// writeJobFiles puts the guest's PID 1 script, the job script and the
// modprobe helper (modules from the kernel share) into the job directory.
func writeJobFiles(job Job) error {
	for _, f := range []string{"rc", "output.log"} {
		os.Remove(filepath.Join(job.Dir, f))
	}
	files := map[string]string{
		"guest.sh": guestScript,
		"job.sh":   job.Script,
		"modprobe": "#!/bin/sh\nexec " + modprobe() + " -d /run/kernel \"$@\"\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(job.Dir, name), []byte(body), 0o755); err != nil {
			return err
		}
	}
	return nil
}
