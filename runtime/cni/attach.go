package cni

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/outpost-edge/outpost/runtime/netns"
)

// Result is a pod's attachment.
type Result struct {
	IP        netip.Addr
	Gateway   netip.Addr
	Interface string // in the pod's namespace
}

// cleanupTimeout bounds the DEL after a failed ADD, which runs even when
// the caller's context is done.
const cleanupTimeout = 30 * time.Second

// podIDRe is the container ID syntax libcni accepts.
var podIDRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

func validPodID(podID string) error {
	if len(podID) > MaxPodIDLen || !podIDRe.MatchString(podID) {
		return fmt.Errorf("cni: %w: pod ID %q (1 to %d of [a-zA-Z0-9_.-], not starting with _.-)",
			ErrInvalid, podID, MaxPodIDLen)
	}
	return nil
}

func (n *Network) runtimeConf(podID, netnsPath string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: podID, NetNS: netnsPath, IfName: IfName}
}

// Setup attaches the pod's namespace at netnsPath to the network and
// returns its address. Calling it again returns the same attachment, also
// from a new Network after an agent restart: an attachment in the cache
// that the plugins' CHECK confirms is kept as it is. One that fails CHECK
// (the namespace was recreated, an interface is gone) is deleted and made
// anew (possibly with another address), as is a half-made one left by a
// failed or interrupted ADD.
func (n *Network) Setup(ctx context.Context, podID, netnsPath string) (Result, error) {
	return n.setup(ctx, podID, netnsPath, true)
}

// SetupFresh is Setup for a network namespace the caller has just created
// (after a reboot, say): a cached attachment cannot hold there, so it is
// not CHECKed (three plugin runs saved per pod on a cold boot) but deleted
// and made anew, which also releases the address it held.
func (n *Network) SetupFresh(ctx context.Context, podID, netnsPath string) (Result, error) {
	return n.setup(ctx, podID, netnsPath, false)
}

func (n *Network) setup(ctx context.Context, podID, netnsPath string, check bool) (Result, error) {
	if err := validPodID(podID); err != nil {
		return Result{}, err
	}
	if netnsPath == "" {
		return Result{}, fmt.Errorf("cni: %w: empty netns path for pod %s", ErrInvalid, podID)
	}
	if _, err := netns.Open(netnsPath); err != nil {
		return Result{}, fmt.Errorf("cni: set up pod %s: %w", podID, err)
	}
	log := n.log.With().Str("pod", podID).Logger()
	rt := n.runtimeConf(podID, netnsPath)

	cached, err := n.cni.GetNetworkListCachedResult(n.list, rt)
	if err != nil {
		log.Warn().Err(err).Msg("unreadable cached cni result; attaching anew")
	}
	if cached != nil {
		checkErr := errors.New("the network namespace is new")
		if check {
			checkErr = n.cni.CheckNetworkList(ctx, n.list, rt)
		}
		if checkErr == nil {
			if res, err := toResult(cached, netnsPath); err == nil {
				log.Debug().Str("ip", res.IP.String()).Msg("pod network attachment adopted")
				return res, nil
			}
		}
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("cni: check pod %s: %w", podID, ctx.Err())
		}
		log.Info().AnErr("check", checkErr).Msg("cached pod network attachment is stale; recreating it")
		if err := n.cni.DelNetworkList(ctx, n.list, rt); err != nil {
			return Result{}, fmt.Errorf("cni: delete stale attachment of pod %s: %w", podID, err)
		}
	}

	start := time.Now()
	res, err := n.add(ctx, rt)
	if err != nil && ctx.Err() == nil {
		// A failed ADD is cleaned up by a DEL (the CNI spec asks it of the
		// runtime); the DEL also releases an address a crash left allocated
		// without a cached result, which host-local would refuse to hand
		// out twice. Then one more try.
		log.Info().Err(err).Msg("cni add failed; deleting and retrying once")
		if delErr := n.cni.DelNetworkList(ctx, n.list, rt); delErr != nil {
			return Result{}, fmt.Errorf("cni: set up pod %s: %w (clean up: %w)", podID, err, delErr)
		}
		res, err = n.add(ctx, rt)
	}
	if err != nil {
		// Clean up even when ctx is what failed the ADD.
		delCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if delErr := n.cni.DelNetworkList(delCtx, n.list, rt); delErr != nil {
			log.Warn().Err(delErr).Msg("cni delete after failed add")
		}
		return Result{}, fmt.Errorf("cni: set up pod %s: %w", podID, err)
	}
	log.Debug().Str("ip", res.IP.String()).Dur("took", time.Since(start)).Msg("pod network attached")
	return res, nil
}

func (n *Network) add(ctx context.Context, rt *libcni.RuntimeConf) (Result, error) {
	r, err := n.cni.AddNetworkList(ctx, n.list, rt)
	if err != nil {
		return Result{}, err
	}
	return toResult(r, rt.NetNS)
}

// Teardown detaches the pod and releases its address. It succeeds when
// there is nothing left to do: a second call, a pod never set up, or a
// namespace already removed (then only the address is released; the
// pod's interfaces died with the namespace).
func (n *Network) Teardown(ctx context.Context, podID, netnsPath string) error {
	if err := validPodID(podID); err != nil {
		return err
	}
	if netnsPath != "" {
		// A pin file without its mount (a crash inside netns.Remove) would
		// make the plugins fail to enter it; an empty path tells them the
		// namespace is gone.
		if _, err := netns.Open(netnsPath); errors.Is(err, netns.ErrNotFound) {
			netnsPath = ""
		}
	}
	start := time.Now()
	if err := n.cni.DelNetworkList(ctx, n.list, n.runtimeConf(podID, netnsPath)); err != nil {
		return fmt.Errorf("cni: tear down pod %s: %w", podID, err)
	}
	n.log.Debug().Str("pod", podID).Bool("netns_gone", netnsPath == "").
		Dur("took", time.Since(start)).Msg("pod network detached")
	return nil
}

// toResult picks the pod interface and its IPv4 address out of a plugin
// result.
func toResult(r types.Result, netnsPath string) (Result, error) {
	cur, err := types100.NewResultFromResult(r)
	if err != nil {
		return Result{}, fmt.Errorf("convert cni result: %w", err)
	}
	iface := -1
	for i, in := range cur.Interfaces {
		if in.Name == IfName && in.Sandbox == netnsPath {
			iface = i
		}
	}
	if iface < 0 {
		return Result{}, fmt.Errorf("cni result has no interface %s in %s", IfName, netnsPath)
	}
	for _, ipc := range cur.IPs {
		if ipc.Interface != nil && *ipc.Interface != iface {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipc.Address.IP)
		if !ok || !ip.Unmap().Is4() {
			continue
		}
		gw, _ := netip.AddrFromSlice(ipc.Gateway)
		return Result{IP: ip.Unmap(), Gateway: gw.Unmap(), Interface: IfName}, nil
	}
	return Result{}, fmt.Errorf("cni result has no IPv4 address on %s", IfName)
}

// Attached returns the IDs of the pods holding an address, as host-local
// records them (a file per address, holding the pod ID and the interface).
// An agent killed between allocating and caching an address leaves one
// that only this shows; Teardown of that pod releases it.
func (n *Network) Attached() ([]string, error) {
	dir := filepath.Join(n.cfg.DataDir, NetworkName)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cni: read allocations: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if _, err := netip.ParseAddr(e.Name()); err != nil || e.IsDir() {
			continue // last_reserved_ip.0, lock
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // released meanwhile
		}
		id, _, _ := strings.Cut(string(b), "\n")
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
