package cni

import (
	"encoding/json"
	"fmt"
)

// The conflist's shape, only the fields we set. Field meanings are the
// plugins' (plugins/main/bridge, plugins/ipam/host-local).
type (
	netConfList struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
		Plugins    []any  `json:"plugins"`
	}
	bridgeConf struct {
		Type        string   `json:"type"`
		Bridge      string   `json:"bridge"`
		IsGateway   bool     `json:"isGateway"`
		IPMasq      bool     `json:"ipMasq"`
		HairpinMode bool     `json:"hairpinMode"`
		MTU         int      `json:"mtu,omitempty"`
		IPAM        ipamConf `json:"ipam"`
	}
	ipamConf struct {
		Type    string        `json:"type"`
		DataDir string        `json:"dataDir"`
		Ranges  [][]ipamRange `json:"ranges"`
		Routes  []ipamRoute   `json:"routes"`
	}
	ipamRange struct {
		Subnet string `json:"subnet"`
	}
	ipamRoute struct {
		Dst string `json:"dst"`
	}
	typeOnly struct {
		Type string `json:"type"`
	}
)

// confList is the network's conflist: a bridge that is the pods' gateway
// (isGateway puts the CIDR's first address on it), hairpin so a pod reaches
// itself through a service address once nftables DNATs it back, no
// masquerade (nftables does egress NAT, so the bridge plugin never runs
// iptables), host-local allocation with a default route via the bridge,
// then loopback to bring up the pod's lo.
func confList(cfg Config, cniVersion string) ([]byte, error) {
	l := netConfList{
		CNIVersion: cniVersion,
		Name:       NetworkName,
		Plugins: []any{
			bridgeConf{
				Type:        "bridge",
				Bridge:      cfg.BridgeName,
				IsGateway:   true,
				IPMasq:      false,
				HairpinMode: true,
				MTU:         cfg.MTU,
				IPAM: ipamConf{
					Type:    "host-local",
					DataDir: cfg.DataDir,
					Ranges:  [][]ipamRange{{{Subnet: cfg.PodCIDR.String()}}},
					Routes:  []ipamRoute{{Dst: "0.0.0.0/0"}},
				},
			},
			typeOnly{Type: "loopback"},
		},
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cni: encode conflist: %w", err)
	}
	return append(b, '\n'), nil
}
