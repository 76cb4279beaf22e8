package api

import (
	"regexp"
	"strings"
)

var (
	dns1123LabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1035LabelRE = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	labelValueRE   = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	ianaSvcNameRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	envNameRE      = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
)

// checkDNS1123Label returns "" when s is a valid RFC 1123 label (pod,
// container and volume names; pod names become hostnames), else why not.
func checkDNS1123Label(s string) string {
	switch {
	case s == "":
		return "required"
	case len(s) > 63:
		return "must be at most 63 characters"
	case !dns1123LabelRE.MatchString(s):
		return "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit"
	}
	return ""
}

// checkDNS1035Label is the rule for service names: a label that starts with a letter.
func checkDNS1035Label(s string) string {
	switch {
	case s == "":
		return "required"
	case len(s) > 63:
		return "must be at most 63 characters"
	case !dns1035LabelRE.MatchString(s):
		return "must be a DNS-1035 label: lower-case letters, digits and '-', starting with a letter"
	}
	return ""
}

// checkPortName is Kubernetes' IANA_SVC_NAME rule for named ports.
func checkPortName(s string) string {
	switch {
	case len(s) > 15:
		return "must be at most 15 characters"
	case !ianaSvcNameRE.MatchString(s) || strings.Contains(s, "--"):
		return "must be lower-case letters, digits and single '-' (an IANA service name)"
	case strings.IndexFunc(s, func(r rune) bool { return r >= 'a' && r <= 'z' }) < 0:
		return "must contain at least one letter"
	}
	return ""
}

// checkLabelKey checks a qualified name with an optional DNS subdomain prefix.
func checkLabelKey(k string) string {
	prefix, name, hasPrefix := strings.Cut(k, "/")
	if !hasPrefix {
		name, prefix = prefix, ""
	}
	if hasPrefix && (prefix == "" || len(prefix) > 253 || !isDNSSubdomain(prefix)) {
		return "prefix must be a DNS subdomain"
	}
	if name == "" || len(name) > 63 || !labelValueRE.MatchString(name) {
		return "name part must be 1-63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
	}
	return ""
}

func isDNSSubdomain(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if checkDNS1123Label(part) != "" {
			return false
		}
	}
	return true
}

func checkLabelValue(v string) string {
	if len(v) > 63 || !labelValueRE.MatchString(v) {
		return "must be at most 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
	}
	return ""
}

func checkEnvName(s string) string {
	if s == "" {
		return "required"
	}
	if !envNameRE.MatchString(s) {
		return "must consist of letters, digits, '_', '-' or '.', and not start with a digit"
	}
	return ""
}

// capabilities are the Linux capability names accepted in add/drop, without
// the CAP_ prefix (which is also accepted, as in Kubernetes).
var capabilities = map[string]bool{}

func init() {
	for _, c := range strings.Fields(`AUDIT_CONTROL AUDIT_READ AUDIT_WRITE BLOCK_SUSPEND BPF CHECKPOINT_RESTORE
		CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID IPC_LOCK IPC_OWNER KILL LEASE LINUX_IMMUTABLE
		MAC_ADMIN MAC_OVERRIDE MKNOD NET_ADMIN NET_BIND_SERVICE NET_BROADCAST NET_RAW PERFMON SETFCAP
		SETGID SETPCAP SETUID SYSLOG SYS_ADMIN SYS_BOOT SYS_CHROOT SYS_MODULE SYS_NICE SYS_PACCT
		SYS_PTRACE SYS_RAWIO SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG WAKE_ALARM ALL`) {
		capabilities[c] = true
	}
}

// CapabilityName returns the upper-case name without CAP_ prefix.
func CapabilityName(s string) string { return strings.TrimPrefix(strings.ToUpper(s), "CAP_") }
