package store

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseSource(t *testing.T) {
	tests := []struct {
		in    string
		ok    bool
		group string
	}{
		{"remote:node", true, ""},
		{"static", true, ""},
		{"remote:group/eu-west.shops", true, "eu-west.shops"},
		{"remote:group/a", true, "a"},
		{"remote:group/", false, ""},
		{"remote:group/-a", false, ""},
		{"remote:group/a-", false, ""},
		{"remote:group/UPPER", false, ""},
		{"remote:group/a/b", false, ""},
		{"remote:group/a\x00b", false, ""},
		{"remote:group/" + strings.Repeat("a", 254), false, ""},
		{"remote:nodes", false, ""},
		{"Static", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			src, err := ParseSource(tt.in)
			if tt.ok != (err == nil) {
				t.Fatalf("ParseSource(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
			if g, _ := src.Group(); g != tt.group {
				t.Errorf("Group() = %q, want %q", g, tt.group)
			}
		})
	}
	if src, err := GroupSource("shops"); err != nil || src != "remote:group/shops" {
		t.Errorf("GroupSource(shops) = %q, %v", src, err)
	}
	if _, err := GroupSource("no/slash"); !errors.Is(err, ErrInvalid) {
		t.Errorf("GroupSource(no/slash) err = %v, want ErrInvalid", err)
	}
}

func TestSourceOrder(t *testing.T) {
	s := &Store{groupRank: map[string]int{"zeta": 0, "alpha": 1}}
	got := []Source{SourceStatic, "remote:group/beta", "remote:group/alpha", SourceNode, "remote:group/aaa", "remote:group/zeta"}
	s.sortSources(got)
	want := []Source{SourceNode, "remote:group/zeta", "remote:group/alpha", "remote:group/aaa", "remote:group/beta", SourceStatic}
	if !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}
