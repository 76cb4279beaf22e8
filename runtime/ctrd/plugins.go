package ctrd

// The plugin set of the embedded server. Each package registers its plugins in
// init. Every one of them is needed by the native client flow (import, unpack,
// create, start, wait): ttrpc needs services/events for shim events, the task
// runtime needs plugins/events, the client needs introspection, namespaces,
// leases and diff. There is no CRI.
import (
	_ "github.com/containerd/containerd/v2/core/runtime/v2"
	_ "github.com/containerd/containerd/v2/plugins/content/local/plugin"
	_ "github.com/containerd/containerd/v2/plugins/diff/walking/plugin"
	_ "github.com/containerd/containerd/v2/plugins/events"
	_ "github.com/containerd/containerd/v2/plugins/gc"
	_ "github.com/containerd/containerd/v2/plugins/leases"
	_ "github.com/containerd/containerd/v2/plugins/metadata"
	_ "github.com/containerd/containerd/v2/plugins/server/grpc"
	_ "github.com/containerd/containerd/v2/plugins/server/ttrpc"
	_ "github.com/containerd/containerd/v2/plugins/services/containers"
	_ "github.com/containerd/containerd/v2/plugins/services/content"
	_ "github.com/containerd/containerd/v2/plugins/services/diff"
	_ "github.com/containerd/containerd/v2/plugins/services/events"
	_ "github.com/containerd/containerd/v2/plugins/services/images"
	_ "github.com/containerd/containerd/v2/plugins/services/introspection"
	_ "github.com/containerd/containerd/v2/plugins/services/leases"
	_ "github.com/containerd/containerd/v2/plugins/services/namespaces"
	_ "github.com/containerd/containerd/v2/plugins/services/snapshots"
	_ "github.com/containerd/containerd/v2/plugins/services/tasks"
	_ "github.com/containerd/containerd/v2/plugins/services/version"
	_ "github.com/containerd/containerd/v2/plugins/snapshots/overlay/plugin"
)

// requiredPlugins must load or Start fails, instead of serving a server that
// cannot run a container. The bolt plugin is among them so that its open
// timeout turns into a startup error.
var requiredPlugins = []string{
	"io.containerd.content.v1.content",
	"io.containerd.snapshotter.v1.overlayfs",
	"io.containerd.metadata.v1.bolt",
	"io.containerd.shim.v1.manager",
	"io.containerd.runtime.v2.task",
	"io.containerd.grpc.v1.tasks",
	"io.containerd.grpc.v1.containers",
	"io.containerd.grpc.v1.images",
	"io.containerd.server.v1.grpc",
	"io.containerd.server.v1.ttrpc",
}

// disabledPlugins come in with the packages above but are not wanted. The
// gRPC prometheus metrics register into prometheus' global registry, which
// panics when a second server starts in the same process (a restart after
// Stop); nothing scrapes them anyway.
var disabledPlugins = []string{
	"io.containerd.metrics.v1.grpc-prometheus",
}
