package store

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Source names where a desired-state document comes from. It is one of
// SourceNode, SourceStatic or GroupSource(name).
type Source string

const (
	// SourceNode is the control plane's document for this node alone.
	SourceNode Source = "remote:node"
	// SourceStatic is the local manifest directory.
	SourceStatic Source = "static"

	groupPrefix = "remote:group/"
	// maxGroupName follows a DNS subdomain's length.
	maxGroupName = 253
)

// GroupSource is the source of the control plane's document for group name.
func GroupSource(name string) (Source, error) {
	if err := validGroupName(name); err != nil {
		return "", fmt.Errorf("store: group source %q: %w", name, err)
	}
	return Source(groupPrefix + name), nil
}

// ParseSource checks s and returns it as a Source.
func ParseSource(s string) (Source, error) {
	src := Source(s)
	if err := src.Validate(); err != nil {
		return "", err
	}
	return src, nil
}

// Validate reports whether src is one of the three source forms; the error wraps ErrInvalid.
func (src Source) Validate() error {
	switch {
	case src == SourceNode, src == SourceStatic:
		return nil
	case strings.HasPrefix(string(src), groupPrefix):
		if err := validGroupName(string(src)[len(groupPrefix):]); err != nil {
			return fmt.Errorf("store: source %q: %w", string(src), err)
		}
		return nil
	}
	return fmt.Errorf("store: source %q: %w: want %q, %q or %q", string(src), ErrInvalid, SourceNode, groupPrefix+"<name>", SourceStatic)
}

// Group returns the group name of a remote:group/<name> source.
func (src Source) Group() (string, bool) {
	name, ok := strings.CutPrefix(string(src), groupPrefix)
	if !ok || name == "" {
		return "", false
	}
	return name, true
}

func (src Source) String() string { return string(src) }

// validGroupName accepts a DNS subdomain: lower-case letters, digits, '-' and
// '.', starting and ending with a letter or digit, at most 253 characters.
func validGroupName(name string) error {
	if name == "" || len(name) > maxGroupName {
		return fmt.Errorf("%w: group name must have 1 to %d characters", ErrInvalid, maxGroupName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		edge := i == 0 || i == len(name)-1
		if !alnum && (edge || c != '-' && c != '.') {
			return fmt.Errorf("%w: group name %q: want lower-case letters, digits, '-' and '.', starting and ending with a letter or digit", ErrInvalid, name)
		}
	}
	return nil
}

// sourceClass ranks the three kinds of source in merge order.
func sourceClass(src Source) int {
	switch {
	case src == SourceNode:
		return 0
	case src == SourceStatic:
		return 2
	default:
		return 1
	}
}

// compareSources orders sources for the merge: remote:node, then groups in
// the order of Options.Groups, then other groups lexically, then static.
func (s *Store) compareSources(a, b Source) int {
	if c := cmp.Compare(sourceClass(a), sourceClass(b)); c != 0 {
		return c
	}
	ga, _ := a.Group()
	gb, _ := b.Group()
	ra, aListed := s.groupRank[ga]
	rb, bListed := s.groupRank[gb]
	switch {
	case aListed && bListed:
		return cmp.Compare(ra, rb)
	case aListed:
		return -1
	case bListed:
		return 1
	}
	return strings.Compare(ga, gb)
}

// sortSources sorts srcs in merge order.
func (s *Store) sortSources(srcs []Source) {
	slices.SortFunc(srcs, s.compareSources)
}
