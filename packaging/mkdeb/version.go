package main

import (
	"fmt"
	"regexp"
	"strconv"
)

// describeRe splits `git describe --tags --always --dirty` output made
// from a tag: v1.2.3, v1.2.3-rc1, v1.2.3-4-gabc1234, each maybe -dirty.
var describeRe = regexp.MustCompile(`^v?([0-9][0-9.]*)(?:-((?:rc|alpha|beta)[0-9.]*))?(?:-([0-9]+)-g([0-9a-f]+))?(-dirty)?$`)

// hashRe is describe's output without a tag: the short commit, maybe -dirty.
var hashRe = regexp.MustCompile(`^([0-9a-f]{4,40})(-dirty)?$`)

// nativeRe is a Debian native package version: no revision, so no hyphen.
var nativeRe = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)

// debVersion turns the Makefile's VERSION (git describe) into a Debian
// version that sorts like the commits: a pre-release sorts before its
// release (~), commits after a tag after it (+N.gHASH). Without any tag,
// commits is the number of commits (git rev-list --count HEAD) so that
// later builds still sort later.
func debVersion(describe string, commits int) (string, error) {
	var v string
	if m := describeRe.FindStringSubmatch(describe); m != nil {
		v = m[1]
		if m[2] != "" {
			v += "~" + m[2]
		}
		if m[3] != "" {
			v += "+" + m[3] + ".g" + m[4]
		}
		if m[5] != "" {
			v += "+dirty"
		}
	} else if m := hashRe.FindStringSubmatch(describe); m != nil {
		v = "0.0.0+" + strconv.Itoa(commits) + ".g" + m[1]
		if m[2] != "" {
			v += "+dirty"
		}
	} else {
		v = describe
	}
	if !nativeRe.MatchString(v) {
		return "", fmt.Errorf("version %q: not a Debian version (want a git describe of a vX.Y.Z tag, or X.Y.Z)", describe)
	}
	return v, nil
}
