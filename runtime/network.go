package runtime

import (
	"context"

	"github.com/outpost-edge/outpost/runtime/cni"
)

// CNI adapts a CNI network to the runtime's Network.
func CNI(n *cni.Network) Network { return cniNetwork{n} }

type cniNetwork struct{ n *cni.Network }

func (c cniNetwork) Setup(ctx context.Context, podID, netnsPath string) (NetworkResult, error) {
	res, err := c.n.Setup(ctx, podID, netnsPath)
	if err != nil {
		return NetworkResult{}, err
	}
	return NetworkResult{IP: res.IP, Gateway: res.Gateway, Interface: res.Interface}, nil
}

// SetupFresh skips the check of a cached attachment in a new namespace.
func (c cniNetwork) SetupFresh(ctx context.Context, podID, netnsPath string) (NetworkResult, error) {
	res, err := c.n.SetupFresh(ctx, podID, netnsPath)
	if err != nil {
		return NetworkResult{}, err
	}
	return NetworkResult{IP: res.IP, Gateway: res.Gateway, Interface: res.Interface}, nil
}

func (c cniNetwork) Teardown(ctx context.Context, podID, netnsPath string) error {
	return c.n.Teardown(ctx, podID, netnsPath)
}

// Attached lists the pods holding an address.
func (c cniNetwork) Attached() ([]string, error) { return c.n.Attached() }
