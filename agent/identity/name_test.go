package identity

import (
	"testing"
	"testing/fstest"
)

func TestNodeName(t *testing.T) {
	const (
		mid      = "4c4c4544004d3510804cb4c04f4d3232\n"
		inst     = "0123456789abcdef"
		piSerial = "Processor\t: 0\nHardware\t: BCM2835\nRevision\t: c03114\nSerial\t\t: 10000000a1b2c3d4\nModel\t\t: Raspberry Pi 4\n"
	)
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, tc := range []struct {
		name, configured, hostname, prefix string
		files                              fstest.MapFS
		want, source                       string
	}{
		{"explicit name is the operator's", "pump-7", "raspberrypi", "", nil, "pump-7", FromConfig},
		{"unique hostname", "", "greenhouse-3", "", fstest.MapFS{"etc/machine-id": file(mid)}, "greenhouse-3", FromHostname},
		{"auto means the rule", Auto, "greenhouse-3", "", nil, "greenhouse-3", FromHostname},
		{"stock hostname: machine-id", "", "raspberrypi", "", fstest.MapFS{"etc/machine-id": file(mid)}, "outpost-4c4c4544", FromMachineID},
		{"stock hostname any case, with a domain", "", "DietPi.lan", "", fstest.MapFS{"etc/machine-id": file(mid)}, "outpost-4c4c4544", FromMachineID},
		{"empty hostname", "", "", "", fstest.MapFS{"etc/machine-id": file(mid)}, "outpost-4c4c4544", FromMachineID},
		{"localhost, own prefix", "", "localhost", "farm", fstest.MapFS{"etc/machine-id": file(mid)}, "farm-4c4c4544", FromMachineID},
		{"cpuinfo serial before machine-id", "", "raspberrypi", "", fstest.MapFS{"etc/machine-id": file(mid), "proc/cpuinfo": file(piSerial)},
			"outpost-a1b2c3d4", FromSerial},
		{"device tree serial first", "", "debian", "", fstest.MapFS{"proc/cpuinfo": file(piSerial),
			"sys/firmware/devicetree/base/serial-number": file("00000000deadbeef\x00")}, "outpost-deadbeef", FromSerial},
		{"non-hex serial is hashed", "", "debian", "", fstest.MapFS{"sys/firmware/devicetree/base/serial-number": file("SN-A7X\x00")},
			"outpost-" + shortHex("sn-a7x"), FromSerial},
		{"zero serial is absent", "", "ubuntu", "", fstest.MapFS{"etc/machine-id": file(mid),
			"proc/cpuinfo": file("Serial\t\t: 0000000000000000\n")}, "outpost-4c4c4544", FromMachineID},
		{"uninitialized machine-id (first boot) is absent", "", "raspberrypi", "", fstest.MapFS{"etc/machine-id": file("uninitialized\n"),
			"proc/cpuinfo": file(piSerial)}, "outpost-a1b2c3d4", FromSerial},
		{"empty machine-id (image) falls to the instance id", "", "raspberrypi", "", fstest.MapFS{"etc/machine-id": file("")},
			"outpost-01234567", FromInstanceID},
		{"zero machine-id is absent", "", "raspberrypi", "", fstest.MapFS{"etc/machine-id": file("00000000000000000000000000000000")},
			"outpost-01234567", FromInstanceID},
		{"malformed machine-id is absent", "", "raspberrypi", "", fstest.MapFS{"etc/machine-id": file("4c4c-4544")},
			"outpost-01234567", FromInstanceID},
		{"nothing at all", "", "localhost", "", fstest.MapFS{}, "outpost-01234567", FromInstanceID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := tc.files
			if files == nil {
				files = fstest.MapFS{}
			}
			got := NodeName(Machine{Root: files, Hostname: tc.hostname}, tc.configured, tc.prefix, inst)
			if got.Name != tc.want || got.Source != tc.source {
				t.Fatalf("NodeName = %q from %s, want %q from %s", got.Name, got.Source, tc.want, tc.source)
			}
		})
	}
}

func TestIsStockHostname(t *testing.T) {
	for h, want := range map[string]bool{
		"raspberrypi": true, "RaspberryPi": true, "localhost.localdomain": true, "": true, "ubuntu": true,
		"raspberrypi-kitchen": false, "pump-7": false, "debian12": false,
	} {
		if got := IsStockHostname(h); got != want {
			t.Errorf("IsStockHostname(%q) = %v, want %v", h, got, want)
		}
	}
}
