package containerspec

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/outpost-edge/outpost/api"
)

func TestHostPathType(t *testing.T) {
	root := t.TempDir()
	allowed := filepath.Join(root, "srv")
	outside := filepath.Join(root, "etc")
	for _, d := range []string{filepath.Join(allowed, "dir"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(allowed, "file"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(allowed, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "nowhere", "x"), filepath.Join(allowed, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(allowed, "dir"), filepath.Join(allowed, "inside")); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(allowed, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	devices := true
	if err := unix.Mknod(filepath.Join(allowed, "chr"), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err != nil {
		devices = false
	}
	if err := unix.Mknod(filepath.Join(allowed, "blk"), unix.S_IFBLK|0o600, int(unix.Mkdev(7, 0))); err != nil {
		devices = false
	}
	// The modes are kubelet's whatever the agent's umask.
	defer unix.Umask(unix.Umask(0o077))

	policy := Policy{HostPathPrefixes: []string{allowed}}
	at := func(p string) string { return filepath.Join(allowed, p) }
	tests := []struct {
		path, typ string
		want      string // error text; "" for success
		forbidden bool
		created   fs.FileMode // the mode of a created path (with its type)
	}{
		{at("dir"), "", "", false, 0},
		{at("missing"), "", "it does not exist", false, 0}, // no type: nothing made, and no bind of a missing path
		{at("dir"), "Directory", "", false, 0},
		{at("inside"), "Directory", "", false, 0},
		{at("file"), "Directory", "it is a regular file, not a directory", false, 0},
		{at("missing"), "Directory", "it does not exist", false, 0},
		{at("dir"), "DirectoryOrCreate", "", false, 0},
		{at("new/a/b"), "DirectoryOrCreate", "", false, fs.ModeDir | 0o755},
		{at("file"), "DirectoryOrCreate", "it is a regular file, not a directory", false, 0},
		{at("file/sub"), "DirectoryOrCreate", "not a directory", false, 0},
		{at("new.conf"), "FileOrCreate", "", false, 0o644},
		{at("dir/new.conf"), "FileOrCreate", "", false, 0o644},
		{at("file"), "FileOrCreate", "", false, 0},
		{at("nodir/new.conf"), "FileOrCreate", "directory " + at("nodir") + " does not exist", false, 0},
		{at("dir"), "FileOrCreate", "it is a directory, not a regular file", false, 0},
		{at("file"), "File", "", false, 0},
		{at("dir"), "File", "it is a directory, not a regular file", false, 0},
		{at("missing"), "File", "it does not exist", false, 0},
		{at("sock"), "Socket", "", false, 0},
		{at("file"), "Socket", "it is a regular file, not a socket", false, 0},
		{at("sock"), "CharDevice", "it is a socket, not a character device", false, 0},
		// Creation never leaves the allowed prefixes, through a link or not.
		{at("escape/new"), "DirectoryOrCreate", "", true, 0},
		{at("escape/new.conf"), "FileOrCreate", "", true, 0},
		{at("dangling/new"), "DirectoryOrCreate", "", true, 0},
		{at("dangling"), "FileOrCreate", "", true, 0},
		{filepath.Join(outside, "new"), "DirectoryOrCreate", "", true, 0},
	}
	if devices {
		tests = append(tests, []struct {
			path, typ string
			want      string
			forbidden bool
			created   fs.FileMode
		}{
			{at("chr"), "CharDevice", "", false, 0},
			{at("blk"), "BlockDevice", "", false, 0},
			{at("chr"), "BlockDevice", "it is a character device, not a block device", false, 0},
			{at("blk"), "File", "it is a block device, not a regular file", false, 0},
		}...)
	} else {
		t.Log("mknod failed: device types not tested")
	}
	for _, tt := range tests {
		name := strings.TrimPrefix(tt.path, root) + " " + tt.typ
		t.Run(name, func(t *testing.T) {
			_, statErr := os.Lstat(tt.path)
			f, err := openHostPath(&api.HostPathVolumeSource{Path: tt.path, Type: tt.typ}, policy)
			if f != nil {
				defer f.Close()
			}
			p := tt.path
			switch {
			case tt.forbidden:
				if !errors.Is(err, ErrForbidden) {
					t.Fatalf("err = %v, want ErrForbidden", err)
				}
				for _, d := range []string{filepath.Join(outside, "new"), filepath.Join(outside, "new.conf"), filepath.Join(root, "nowhere")} {
					if _, err := os.Lstat(d); err == nil {
						t.Fatalf("%s was created", d)
					}
				}
				return
			case tt.want != "":
				typ := tt.typ
				if typ == "" {
					typ = `""`
				}
				want := "hostPath " + tt.path + " (type " + typ + "): hostPath type check failed: "
				if !errors.Is(err, ErrHostPathType) || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v\nwant %s...%s", err, want, tt.want)
				}
				if _, err := os.Lstat(tt.path); errors.Is(statErr, fs.ErrNotExist) && err == nil {
					t.Fatalf("%s was created", tt.path)
				}
				if _, err := os.Lstat(at("nodir")); err == nil {
					t.Fatal("FileOrCreate created the parent directory")
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if tt.created != 0 {
				fi, err := os.Lstat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode() != tt.created || (tt.created.IsRegular() && fi.Size() != 0) {
					t.Errorf("created %s with mode %v size %d, want mode %v and empty", p, fi.Mode(), fi.Size(), tt.created)
				}
				if !errors.Is(statErr, fs.ErrNotExist) {
					t.Errorf("%s existed before", tt.path)
				}
			}
			if tt.path == at("inside") && !sameFile(t, f, at("dir")) {
				t.Errorf("source = %s, want the link resolved to %s", f.Name(), at("dir"))
			}
		})
	}
}

// TestHostPathTypeMount: a hostPath is mounted through its private mount
// point; a type mismatch refuses the container, naming the volume, the path
// and the type.
func TestHostPathTypeMount(t *testing.T) {
	allowed := t.TempDir()
	if err := os.WriteFile(filepath.Join(allowed, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pod := basePod(t, "")
	policy := Policy{HostPathPrefixes: []string{allowed}}
	pod.Spec = parsePod(t, podWith("volumeMounts: [{name: h, mountPath: /h}]")+
		"  volumes: [{name: h, hostPath: {path: "+allowed+"/file, type: Directory}}]\n")
	_, binds, err := Mounts(pod, &pod.Spec.Spec.Containers[0], policy)
	if err != nil || len(binds) != 1 {
		t.Fatalf("Mounts: %v, %v", binds, err)
	}
	_, err = binds[0].Open()
	want := `container "c": volume "h": hostPath ` + allowed + `/file (type Directory): hostPath type check failed: it is a regular file, not a directory`
	if !errors.Is(err, ErrHostPathType) || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}

	pod.Spec = parsePod(t, podWith("volumeMounts: [{name: h, mountPath: /h}]")+
		"  volumes: [{name: h, hostPath: {path: "+allowed+"/data/cache, type: DirectoryOrCreate}}]\n")
	s, err := generate(t, pod, busybox, policy)
	if err != nil {
		t.Fatal(err)
	}
	if !hasMount(s, "/h", pod.BindDir+"/0") {
		t.Errorf("mounts = %+v", s.Mounts)
	}
	_, binds, _ = Mounts(pod, &pod.Spec.Spec.Containers[0], policy)
	f, err := binds[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := os.Stat(allowed + "/data/cache"); err != nil || !fi.IsDir() || !sameFile(t, f, allowed+"/data/cache") {
		t.Errorf("DirectoryOrCreate: %v", err)
	}
}

func sameFile(t *testing.T, f *os.File, p string) bool {
	t.Helper()
	a, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return os.SameFile(a, b)
}
