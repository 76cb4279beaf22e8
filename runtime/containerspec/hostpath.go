package containerspec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
	"github.com/outpost-edge/outpost/runtime/safepath"
)

// ErrHostPathType is wrapped when a hostPath volume is not of its type
// (Directory, File, Socket, ...) and cannot be made so (DirectoryOrCreate,
// FileOrCreate): the container waits with CreateContainerConfigError.
var ErrHostPathType = runtimeapi.NewWaitingError("CreateContainerConfigError", "hostPath type check failed")

// A Bind is a volume source a pod can influence, a hostPath or a subPath:
// Open resolves it without letting a link lead out of its root, and the
// runtime binds the opened file on Target (safepath.Bind) before the
// container's task is created.
type Bind struct {
	// Target is the private mount point the container's mount names.
	Target string

	container, volume string
	hostPath          *api.HostPathVolumeSource
	emptyDir          string
	subPath           string
	policy            Policy
}

// Open opens the source: a hostPath checked against the policy, created
// if its type says so (DirectoryOrCreate 0755 with its parents,
// FileOrCreate 0644 in an existing directory) and checked against its type
// on the opened file, as kubelet does at mount time; then the subPath below
// it, made as a directory inside an emptyDir as Kubernetes does. No step
// follows a link placed or swapped in by a container out of the volume or
// out of the allowed prefixes.
func (b Bind) Open() (*os.File, error) {
	wrap := func(err error) error {
		return fmt.Errorf("container %q: volume %q: %w", b.container, b.volume, err)
	}
	var root *os.File
	var err error
	if b.hostPath != nil {
		root, err = openHostPath(b.hostPath, b.policy)
	} else {
		root, err = safepath.OpenRoot(b.emptyDir)
	}
	if err != nil {
		return nil, wrap(err)
	}
	if b.subPath == "" {
		return root, nil
	}
	defer root.Close()
	create := safepath.NoCreate
	if b.hostPath == nil {
		create = safepath.Dirs
	}
	f, err := safepath.Open(root, b.subPath, safepath.Beneath, create)
	if errors.Is(err, safepath.ErrEscape) {
		return nil, wrap(fmt.Errorf("subPath %q: %w: it leaves the volume (%v)", b.subPath, ErrForbidden, err))
	}
	if err != nil {
		return nil, wrap(fmt.Errorf("subPath %q: %w", b.subPath, err))
	}
	return f, nil
}

// openHostPath opens a hostPath volume's path as checked against the policy
// (symlinks resolved), walking it from / without following any link: one
// found now was swapped in since the check.
func openHostPath(v *api.HostPathVolumeSource, policy Policy) (*os.File, error) {
	p, err := HostPath(v.Path, policy)
	if err != nil {
		return nil, err
	}
	fail := func(format string, args ...any) error {
		typ := v.Type
		if typ == "" {
			typ = `""`
		}
		return fmt.Errorf("hostPath %s (type %s): %w: %s", v.Path, typ, ErrHostPathType, fmt.Sprintf(format, args...))
	}
	root, err := safepath.OpenRoot("/")
	if err != nil {
		return nil, err
	}
	defer root.Close()
	create := safepath.NoCreate
	switch v.Type {
	case "DirectoryOrCreate":
		create = safepath.Dirs
	case "FileOrCreate":
		create = safepath.File
	}
	f, err := safepath.Open(root, strings.TrimPrefix(p, "/"), safepath.NoLinks, create)
	switch {
	case errors.Is(err, safepath.ErrEscape):
		return nil, fmt.Errorf("hostPath %s: %w: a symbolic link appeared on its path (%v)", v.Path, ErrForbidden, err)
	case errors.Is(err, fs.ErrNotExist) && create == safepath.File:
		return nil, fail("directory %s does not exist", filepath.Dir(p))
	case errors.Is(err, fs.ErrNotExist):
		return nil, fail("it does not exist")
	case err != nil && create != safepath.NoCreate:
		return nil, fail("creating it: %v", err)
	case err != nil:
		return nil, fail("%v", err)
	}
	if v.Type == "" {
		return f, nil
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fail("%v", err)
	}
	want := map[string]fs.FileMode{
		"DirectoryOrCreate": fs.ModeDir, "Directory": fs.ModeDir,
		"FileOrCreate": 0, "File": 0,
		"Socket": fs.ModeSocket, "CharDevice": fs.ModeDevice | fs.ModeCharDevice, "BlockDevice": fs.ModeDevice,
	}[v.Type]
	if got := fi.Mode().Type(); got != want {
		f.Close()
		return nil, fail("it is %s, not %s", kind(got), kind(want))
	}
	return f, nil
}

// kind names a file type.
func kind(t fs.FileMode) string {
	switch t {
	case 0:
		return "a regular file"
	case fs.ModeDir:
		return "a directory"
	case fs.ModeSocket:
		return "a socket"
	case fs.ModeDevice | fs.ModeCharDevice:
		return "a character device"
	case fs.ModeDevice:
		return "a block device"
	case fs.ModeNamedPipe:
		return "a named pipe"
	case fs.ModeSymlink:
		return "a symbolic link"
	}
	return "of type " + t.String()
}
