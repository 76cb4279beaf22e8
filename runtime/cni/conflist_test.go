package cni

import (
	"encoding/json"
	"net/netip"
	"testing"
)

func TestConfList(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantMTU any // nil: no mtu key
	}{
		{"defaults", Config{}, nil},
		{"mtu", Config{MTU: 1400, PodCIDR: netip.MustParsePrefix("10.1.2.3/16")}, float64(1400)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.cfg.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			b, err := confList(cfg, "1.0.0")
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				CNIVersion string           `json:"cniVersion"`
				Name       string           `json:"name"`
				Plugins    []map[string]any `json:"plugins"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.CNIVersion != "1.0.0" || got.Name != NetworkName || len(got.Plugins) != 2 {
				t.Fatalf("conflist %s", b)
			}
			br, lo := got.Plugins[0], got.Plugins[1]
			want := map[string]any{
				"type": "bridge", "bridge": cfg.BridgeName,
				"isGateway": true, "ipMasq": false, "hairpinMode": true,
			}
			for k, v := range want {
				if br[k] != v {
					t.Errorf("bridge %s = %v, want %v", k, br[k], v)
				}
			}
			if br["mtu"] != tt.wantMTU {
				t.Errorf("bridge mtu = %v, want %v", br["mtu"], tt.wantMTU)
			}
			ipam := br["ipam"].(map[string]any)
			if ipam["type"] != "host-local" || ipam["dataDir"] != cfg.DataDir {
				t.Errorf("ipam %v", ipam)
			}
			subnet := ipam["ranges"].([]any)[0].([]any)[0].(map[string]any)["subnet"]
			if subnet != cfg.PodCIDR.String() || cfg.PodCIDR != cfg.PodCIDR.Masked() {
				t.Errorf("subnet %v, want %s", subnet, cfg.PodCIDR)
			}
			if dst := ipam["routes"].([]any)[0].(map[string]any)["dst"]; dst != "0.0.0.0/0" {
				t.Errorf("route %v", dst)
			}
			if lo["type"] != "loopback" {
				t.Errorf("second plugin %v, want loopback", lo)
			}
		})
	}
}
