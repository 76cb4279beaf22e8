// Command mkdeb builds Outpost's Debian packages from the binaries that
// `make cross` leaves in dist/: outpost_<version>_<arch>.deb (the agent,
// its systemd unit, /etc/outpost/config.yaml with the defaults commented
// out, a modules-load.d file, the maintainer scripts of packaging/deb) and
// outpostctl_<version>_<arch>.deb, for amd64, arm64 and armhf (the armv7
// build). It stages each tree and runs dpkg-deb, the format's reference
// tool (part of dpkg, on every Debian machine): no Go module is added for it.
//
//	go run ./packaging/mkdeb -version "$(git describe --tags --always --dirty)"
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// debArches maps a Debian architecture to the name of `make cross`'s build.
var debArches = map[string]string{"amd64": "amd64", "arm64": "arm64", "armhf": "armv7"}

type options struct {
	describe string    // git describe (the Makefile's VERSION)
	commits  int       // commits in HEAD, for a describe without a tag
	root     string    // the source tree
	dist     string    // where the binaries are and the packages go
	date     time.Time // of the changelog entry and every file
	compress string    // dpkg-deb -Z
}

func main() {
	o := options{compress: "xz"}
	arches := flag.String("arch", "amd64,arm64,armhf", "Debian architectures to package, comma-separated")
	flag.StringVar(&o.describe, "version", "", "the version as `git describe --tags --always --dirty` prints it (required)")
	flag.StringVar(&o.root, "root", ".", "the source tree")
	flag.StringVar(&o.dist, "dist", "dist", "directory of the binaries (outpost-<arch>, outpostctl-<arch>) and the packages")
	printVersion := flag.Bool("print-version", false, "print the Debian version and exit")
	flag.Parse()
	if o.describe == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := o.fromGit(); err != nil {
		fail(err)
	}
	if *printVersion {
		v, err := debVersion(o.describe, o.commits)
		if err != nil {
			fail(err)
		}
		fmt.Println(v)
		return
	}
	for _, arch := range strings.Split(*arches, ",") {
		outs, err := o.buildArch(arch)
		if err != nil {
			fail(err)
		}
		for _, out := range outs {
			fmt.Println(out)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mkdeb:", err)
	os.Exit(1)
}

// fromGit fills the commit count and the date from the source tree's git
// (SOURCE_DATE_EPOCH overrides the date; no git: now and 0 commits).
func (o *options) fromGit() error {
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", o.root}, args...)...).Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	o.commits, _ = strconv.Atoi(git("rev-list", "--count", "HEAD"))
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		epoch = git("log", "-1", "--format=%ct")
	}
	o.date = time.Now().UTC().Truncate(time.Second)
	if epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", epoch, err)
		}
		o.date = time.Unix(sec, 0).UTC()
	}
	return nil
}

// buildArch builds both packages of one Debian architecture.
func (o options) buildArch(arch string) ([]string, error) {
	cross, ok := debArches[arch]
	if !ok {
		return nil, fmt.Errorf("architecture %q: want one of amd64, arm64, armhf", arch)
	}
	version, err := debVersion(o.describe, o.commits)
	if err != nil {
		return nil, err
	}
	agent, err := o.agentPkg(version, arch, filepath.Join(o.dist, "outpost-"+cross))
	if err != nil {
		return nil, err
	}
	ctl := o.ctlPkg(version, arch, filepath.Join(o.dist, "outpostctl-"+cross))
	var outs []string
	for _, p := range []pkg{agent, ctl} {
		out, err := build(p, o.dist, o.compress, o.date)
		if err != nil {
			return nil, err
		}
		outs = append(outs, out)
	}
	return outs, nil
}

func (o options) agentPkg(version, arch, binary string) (pkg, error) {
	cfg, err := defaultConfig()
	if err != nil {
		return pkg{}, err
	}
	src := func(p ...string) string { return filepath.Join(append([]string{o.root}, p...)...) }
	p := pkg{
		name: "outpost", version: version, arch: arch,
		// The agent does not start without runc (it runs every container)
		// nor without the CNI bridge, host-local and loopback plugins (it
		// checks them at start), so both are Depends.
		depends: "runc, containernetworking-plugins",
		description: `edge node agent: Kubernetes pods on small devices
 Outpost plays the role of a Kubernetes worker node (kubelet, kube-proxy and
 container runtime) on Raspberry Pi class devices, in one static binary. It
 keeps the desired pods in a local database, so a device that boots offline
 runs its pods, syncs with a control plane over MQTT when the link is up,
 runs containers through an embedded containerd and routes services with
 nftables.`,
		entries: []entry{
			{path: "/usr/bin/outpost", mode: 0o755, src: binary},
			{path: "/usr/lib/systemd/system/outpost.service", mode: 0o644, src: src("packaging", "outpost.service")},
			{path: "/usr/lib/modules-load.d/outpost.conf", mode: 0o644, src: src("packaging", "deb", "outpost.modules")},
			// It may hold the broker's password: root only.
			{path: "/etc/outpost/config.yaml", mode: 0o600, data: cfg},
			{path: "/etc/outpost/manifests", mode: 0o755, dir: true},
			// As the unit's StateDirectoryMode.
			{path: "/var/lib/outpost", mode: 0o700, dir: true},
			{path: "/var/lib/outpost/images", mode: 0o700, dir: true},
			{path: "/usr/share/lintian/overrides/outpost", mode: 0o644, src: src("packaging", "deb", "outpost.lintian-overrides")},
		},
		conffiles: []string{"/etc/outpost/config.yaml"},
		scripts: map[string]string{
			"postinst": src("packaging", "deb", "postinst"),
			"prerm":    src("packaging", "deb", "prerm"),
			"postrm":   src("packaging", "deb", "postrm"),
		},
	}
	p.entries = append(p.entries, o.docs(p.name, version)...)
	for _, doc := range []string{"config.md", "agent.md", "install.md"} {
		p.entries = append(p.entries, entry{path: "/usr/share/doc/outpost/" + doc, mode: 0o644, src: src("docs", doc)})
	}
	return p, nil
}

func (o options) ctlPkg(version, arch, binary string) pkg {
	p := pkg{
		name: "outpostctl", version: version, arch: arch,
		description: `operator's command line for an Outpost fleet
 outpostctl talks to a fleet of Outpost nodes through their MQTT broker: it
 publishes the desired state of nodes and groups (signed with an ed25519 key
 when given one), waits until the nodes observed it, and lists the nodes and
 their pods.`,
		entries: []entry{
			{path: "/usr/bin/outpostctl", mode: 0o755, src: binary},
			{path: "/usr/share/lintian/overrides/outpostctl", mode: 0o644,
				src: filepath.Join(o.root, "packaging", "deb", "outpostctl.lintian-overrides")},
		},
	}
	p.entries = append(p.entries, o.docs(p.name, version)...)
	return p
}

// docs are the copyright file and the changelog every package carries.
func (o options) docs(name, version string) []entry {
	dir := "/usr/share/doc/" + name + "/"
	changelog := fmt.Sprintf("%s (%s) unstable; urgency=medium\n\n  * Built from %s.\n\n -- %s  %s\n",
		name, version, o.describe, maintainer, o.date.Format(time.RFC1123Z))
	return []entry{
		{path: dir + "copyright", mode: 0o644, data: []byte(copyright)},
		{path: dir + "changelog.gz", mode: 0o644, data: gzipped([]byte(changelog))},
	}
}

const copyright = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: outpost
Source: https://github.com/outpost-edge/outpost

Files: *
Copyright: 2026 The Outpost authors
License: Apache-2.0
Comment: The binaries are statically linked with the Go modules their
 source's go.mod lists, each under its own license (Apache-2.0, BSD, MIT,
 MPL-2.0); 'go version -m /usr/bin/outpost' lists them and their versions.

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not
 use this file except in compliance with the License. You may obtain a copy
 of the License at http://www.apache.org/licenses/LICENSE-2.0.
 .
 On Debian systems, the full text of the Apache License, Version 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
`
