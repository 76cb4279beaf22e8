//go:build lossydevice

// Built only for internal/vmtest's guest (go test -tags lossydevice), whose
// kernel has device-mapper's flakey target; see TestStoreOnLossyDevice.

package store

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"
)

// TestPowerCutOnLossyDevice: kill -9 of a writer leaves its writes in the
// page cache; a power cut loses what was not yet on the device. Here the
// state file lives on ext4 over a dm-flakey device over a loop device; while
// a writer process commits documents through the store, the device starts
// dropping every write (as a dying power supply would), then the writer is
// killed and the file system is mounted again from what reached the device.
// The store must open (a consistent file holding at least every generation
// acknowledged before the drop), never panic, and pass bbolt's check.
func TestPowerCutOnLossyDevice(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "dmsetup", "dmsetup")
	testenv.RequireBinary(t, "losetup", "mount")
	testenv.RequireBinary(t, "mkfs.ext4", "e2fsprogs")
	// The kernel's own modprobe program: in the internal/vmtest guest it
	// loads from the guest kernel's modules, not the host's.
	modprobe := "modprobe"
	if b, err := os.ReadFile("/proc/sys/kernel/modprobe"); err == nil && strings.TrimSpace(string(b)) != "" {
		modprobe = strings.TrimSpace(string(b))
	}
	_ = exec.Command(modprobe, "-a", "loop", "dm-mod", "dm-flakey", "ext4").Run()
	if out, err := exec.Command("dmsetup", "targets").CombinedOutput(); err != nil || !strings.Contains(string(out), "flakey") {
		testenv.Skip(t, fmt.Sprintf("the kernel has no device-mapper flakey target (dmsetup targets: %v %s)", err, strings.TrimSpace(string(out))))
	}

	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	loop := strings.TrimSpace(run(t, "losetup", "--find", "--show", img))
	t.Cleanup(func() { _ = exec.Command("losetup", "--detach", loop).Run() })
	name := fmt.Sprintf("outpost-store-test-%d", os.Getpid())
	sectors := size / 512
	allow := fmt.Sprintf("0 %d flakey %s 0 180 0", sectors, loop)
	drop := fmt.Sprintf("0 %d flakey %s 0 0 180 1 drop_writes", sectors, loop)
	run(t, "dmsetup", "create", name, "--table", allow)
	t.Cleanup(func() { _ = exec.Command("dmsetup", "remove", "--retry", name).Run() })
	// Without udev (the vmtest guest) nobody makes the node: dmsetup does.
	run(t, "dmsetup", "mknodes", name)
	dev := "/dev/mapper/" + name
	run(t, "mkfs.ext4", "-q", "-F", dev)
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	mount := func() {
		t.Helper()
		run(t, "mount", "-t", "ext4", dev, mnt)
	}
	unmount := func() {
		t.Helper()
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Fatalf("umount %s: %v", mnt, err)
		}
	}
	mount()
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	path := filepath.Join(mnt, "state.db")

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>9))
	t.Logf("seed %d", seed)
	var acked int64
	lost := false
	for i := range 6 {
		cut, written, err := writeUntilCut(path, time.Duration(20+rng.IntN(200))*time.Millisecond, func() error {
			return switchTable(name, drop)
		})
		if err != nil {
			t.Fatalf("cut %d: %v", i, err)
		}
		// The device lost every write since the cut: mount what it has.
		unmount()
		if err := switchTable(name, allow); err != nil {
			t.Fatal(err)
		}
		mount()
		acked = max(acked, cut)
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("cut %d: open after the power cut: %v", i, err)
		}
		gens, err := s.Generations(context.Background())
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		checkFile(t, path)
		verifyCrashState(t, path, acked)
		if t.Failed() {
			t.Fatalf("cut %d: state does not match", i)
		}
		// The writer's acknowledgements after the cut went nowhere.
		lost = lost || gens[SourceNode] < written
		acked = gens[SourceNode]
		t.Logf("cut %d: acknowledged %d before the cut, %d in all; the device kept %d", i, cut, written, gens[SourceNode])
	}
	if !lost {
		t.Error("no cut lost a write the writer saw acknowledged: the device never dropped writes, this was no power cut")
	}
}

// writeUntilCut runs a crash child on path, lets it write for delay, calls
// cut while it writes, then kills it. It returns the last generation the
// child acknowledged before cut began (those were fsynced to the device)
// and the last it acknowledged at all.
func writeUntilCut(path string, delay time.Duration, cut func() error) (before, last int64, err error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=crash", pathEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	acks := make(chan int64, 1<<16)
	go func() {
		defer close(acks)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if n, err := strconv.ParseInt(sc.Text(), 10, 64); err == nil {
				acks <- n
			}
		}
	}()
	select {
	case n, ok := <-acks:
		if !ok {
			return 0, 0, fmt.Errorf("child exited before its first acknowledgement")
		}
		last = n
	case <-time.After(20 * time.Second):
		return 0, 0, fmt.Errorf("no acknowledgement within 20s")
	}
	time.Sleep(delay)
	for drained := false; !drained; {
		select {
		case n := <-acks:
			last = n
		default:
			drained = true
		}
	}
	before = last
	if err := cut(); err != nil {
		return 0, 0, err
	}
	time.Sleep(delay / 2) // the writer goes on, into the void
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return 0, 0, err
	}
	for n := range acks { // until EOF: every line written before the kill
		last = n
	}
	killed = true
	_ = cmd.Wait()
	return before, last, nil
}

// switchTable replaces the flakey device's table, as xfstests does:
// suspend (in-flight I/O completes), load, resume.
func switchTable(name, table string) error {
	for _, args := range [][]string{{"suspend", "--nolockfs", name}, {"load", name, "--table", table}, {"resume", name}} {
		if out, err := exec.Command("dmsetup", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("dmsetup %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
