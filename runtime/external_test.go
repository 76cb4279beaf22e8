package runtime_test

import (
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testenv"
	"github.com/outpost-edge/outpost/runtime"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

// TestExternalContainerd runs a pod through a containerd the device already
// runs (containerd.address): the OS's own, with its own shim.
func TestExternalContainerd(t *testing.T) {
	sock := testenv.StartOSContainerd(t).Socket
	network := withPodNetwork(t)
	e := newEnv(t, func(c *runtime.Config) {
		network(c)
		c.ContainerdAddress = sock
	})
	ctx, events := e.events()
	doc := `apiVersion: v1
kind: Pod
metadata: {name: outside}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: IMAGE
    imagePullPolicy: Never
    command: ["sh", "-c", "hostname; ip -o -4 addr show eth0 | grep -q inet && echo networked; exit 4"]
    resources: {limits: {memory: 32Mi}}
`
	_, sb, started := e.run(pod(t, doc))
	exit := waitExit(t, events, started[0].ID, 30*time.Second)
	if exit.Code != 4 || exit.Reason != runtimeapi.ReasonError {
		t.Fatalf("exit = %+v, want code 4", exit)
	}
	log := logText(readLog(t, started[0].LogPath))
	ip, ok := sb.IP()
	if log != "outside\nnetworked\n" || !ok {
		t.Fatalf("pod IP %v, log %q", ip, log)
	}
	obs, err := e.rt.List(ctx)
	if err != nil || len(obs) != 1 || obs[0].ID != started[0].ID {
		t.Fatalf("List = %+v, %v", obs, err)
	}
}
