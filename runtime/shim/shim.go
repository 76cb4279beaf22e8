// Package shim makes the outpost binary double as the containerd runc v2 shim.
//
// containerd starts a task by exec'ing the runtime binary it was given (our
// own executable, by absolute path) with shim flags, and the shim re-execs
// itself through os.Executable() to daemonize. main() therefore has to
// recognise those invocations before doing anything else:
//
//	func main() {
//		if shim.IsShimInvocation(os.Args) {
//			shim.Run()
//			return
//		}
//		...
//	}
//
// The shim parses the global flag set, so the agent must not register global
// flags with the names in shimFlags.
package shim

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task"
	ctrshim "github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
)

// RuntimeName is the runtime type the shim reports to containerd.
const RuntimeName = "io.containerd.runc.v2"

// shimFlags are the flags of containerd's shim command line (pkg/shim). An
// invocation whose first argument is one of them is a shim invocation; any
// other leading flag (a Go test binary's -test.v, an agent's --help) is not.
var shimFlags = map[string]bool{
	"namespace":      true,
	"id":             true,
	"address":        true,
	"publish-binary": true,
	"bundle":         true,
	"socket":         true,
	"debug-socket":   true,
	"debug":          true,
	"info":           true,
	"v":              true,
	"version":        true,
}

// IsShimInvocation reports whether args (os.Args) is containerd calling this
// binary as its shim: either the binary is named containerd-shim-*, or the
// first argument is one of the shim's flags.
func IsShimInvocation(args []string) bool {
	if len(args) == 0 {
		return false
	}
	if strings.HasPrefix(filepath.Base(args[0]), "containerd-shim-") {
		return true
	}
	if len(args) < 2 || !strings.HasPrefix(args[1], "-") {
		return false
	}
	name := strings.TrimLeft(args[1], "-")
	name, _, _ = strings.Cut(name, "=")
	return shimFlags[name]
}

// Run runs the runc v2 shim with os.Args and returns when the shim is done;
// on failure containerd's shim code prints the error and exits the process
// with status 1.
//
// The shim builds its plugin graph from the same global registry that the
// embedded server's plugins registered into at init, so Run clears it first
// and registers only what the shim serves.
func Run() {
	registry.Reset()
	registerTaskService()
	ctrshim.RunShim(context.Background(), manager.NewShimManager(RuntimeName))
}

// registerTaskService registers the runc task TTRPC service, as containerd's
// cmd/containerd-shim-runc-v2/task/plugin does in its init. That package is
// not imported because its init would register into the server's graph too.
func registerTaskService() {
	registry.Register(&plugin.Registration{
		Type:     plugins.TTRPCPlugin,
		ID:       "task",
		Requires: []plugin.Type{plugins.EventPlugin, plugins.InternalPlugin},
		InitFn: func(ic *plugin.InitContext) (any, error) {
			pp, err := ic.GetByID(plugins.EventPlugin, "publisher")
			if err != nil {
				return nil, err
			}
			ss, err := ic.GetByID(plugins.InternalPlugin, "shutdown")
			if err != nil {
				return nil, err
			}
			publisher, ok := pp.(ctrshim.Publisher)
			if !ok {
				return nil, fmt.Errorf("event publisher plugin is %T, not a shim publisher", pp)
			}
			shutdownService, ok := ss.(shutdown.Service)
			if !ok {
				return nil, fmt.Errorf("shutdown plugin is %T, not a shutdown service", ss)
			}
			return task.NewTaskService(ic.Context, publisher, shutdownService)
		},
	})
}
