package identity

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"strings"
)

// Auto, as the configured node name (or an empty one), asks for the rule.
const Auto = "auto"

// DefaultPrefix starts a derived name: outpost-1a2b3c4d.
const DefaultPrefix = "outpost"

// Where a node name came from.
const (
	FromConfig     = "config"
	FromHostname   = "hostname"
	FromSerial     = "soc-serial"
	FromMachineID  = "machine-id"
	FromInstanceID = "instance-id"
)

// Files the rule reads, relative to the root it is given.
const (
	pathMachineID = "etc/machine-id"
	pathDTSerial  = "sys/firmware/devicetree/base/serial-number"
	pathCPUInfo   = "proc/cpuinfo"
)

// stockHostnames are the names OS images ship with: thousands of devices
// answer to them, so none of them names a node. Compared on the first
// label, lower-cased ("RaspberryPi.lan" is stock).
var stockHostnames = map[string]bool{
	"": true, "localhost": true, "(none)": true, "raspberrypi": true, "debian": true, "ubuntu": true,
	"dietpi": true, "armbian": true, "alarm": true, "alarmpi": true, "openwrt": true, "orangepi": true,
	"bananapi": true, "nanopi": true, "rockpi": true, "radxa": true, "odroid": true, "beaglebone": true,
	"pine64": true, "rock64": true, "buildroot": true, "fedora": true, "archlinux": true, "alpine": true,
}

// Machine is what the rule reads of the device.
type Machine struct {
	// Root is the file system root: os.DirFS("/") on the device.
	Root fs.FS
	// Hostname is the kernel's host name (os.Hostname).
	Hostname string
}

// Name is a node name and where it came from.
type Name struct {
	Name   string
	Source string
}

// NodeName applies the rule when configured is empty or Auto, and keeps an
// explicit configured name as the operator's choice. The rule: the hostname
// unless it is a stock one, else prefix-<8 hex digits> of, in this order,
// the SoC serial (hardware: it survives reflashing and cannot be cloned
// with the image), /etc/machine-id (systemd's first-boot states, empty or
// "uninitialized", count as absent), and last instanceID (random, kept in
// the data dir), so a device always gets a name that is its own.
func NodeName(m Machine, configured, prefix, instanceID string) Name {
	if configured != "" && configured != Auto {
		return Name{configured, FromConfig}
	}
	if !IsStockHostname(m.Hostname) {
		return Name{m.Hostname, FromHostname}
	}
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if s := socSerial(m.Root); s != "" {
		return Name{prefix + "-" + s, FromSerial}
	}
	if s := machineID(m.Root); s != "" {
		return Name{prefix + "-" + s, FromMachineID}
	}
	id := strings.ToLower(instanceID)
	if !isHex(id) || len(id) < 8 {
		id = shortHex(id)
	}
	return Name{prefix + "-" + id[:8], FromInstanceID}
}

// IsStockHostname tells whether a hostname is one an OS image ships with.
func IsStockHostname(h string) bool {
	label, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(h)), ".")
	return stockHostnames[label]
}

// machineID is the first 8 hex digits of /etc/machine-id, or "" when it is
// missing, not 32 hex digits (systemd writes "uninitialized" until the first
// boot completes, and images ship it empty) or all zeros.
func machineID(root fs.FS) string {
	b, err := fs.ReadFile(root, pathMachineID)
	if err != nil {
		return ""
	}
	id := strings.ToLower(strings.TrimSpace(string(b)))
	if len(id) != 32 || !isHex(id) || strings.Trim(id, "0") == "" {
		return ""
	}
	return id[:8]
}

// socSerial is the last 8 hex digits of the SoC serial number (the
// device tree's serial-number, else the Serial line of /proc/cpuinfo, as on
// a Raspberry Pi, where those digits are the unique part printed by
// `cat /proc/cpuinfo`). A serial that is not hex is hashed; a missing or
// all-zero one (many boards report 0000000000000000) is absent.
func socSerial(root fs.FS) string {
	var serial string
	if b, err := fs.ReadFile(root, pathDTSerial); err == nil {
		serial = string(bytes.TrimRight(b, "\x00\n "))
	}
	if serial == "" {
		serial = cpuinfoSerial(root)
	}
	serial = strings.ToLower(strings.TrimSpace(serial))
	if strings.Trim(serial, "0") == "" {
		return ""
	}
	if isHex(serial) && len(serial) >= 8 {
		return serial[len(serial)-8:]
	}
	return shortHex(serial)
}

func cpuinfoSerial(root fs.FS) string {
	b, err := fs.ReadFile(root, pathCPUInfo)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "Serial" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// shortHex is 8 hex digits of s's SHA-256.
func shortHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}
