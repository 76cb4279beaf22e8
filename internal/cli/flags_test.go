package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestFlagSetParse(t *testing.T) {
	tests := []struct {
		args     []string
		min, max int
		code     int // -1: no error
		want     string
		pos      []string
	}{
		{[]string{"pods", "-o", "wide"}, 1, 1, -1, "", []string{"pods"}},
		{[]string{"-o", "wide", "a", "--", "-x"}, 1, -1, -1, "", []string{"a", "-x"}},
		{nil, 1, 1, 2, "get: missing arguments\nusage: outpost get KIND", nil},
		{[]string{"a", "b"}, 1, 1, 2, "get: too many arguments", nil},
		{[]string{"--help"}, 1, 1, 0, "usage: outpost get KIND", nil},
		{[]string{"--nope"}, 0, 0, 2, "flag provided but not defined: -nope", nil},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		fs := NewFlagSet("get", "outpost get KIND", &out)
		var files StringList
		fs.Var(&files, "f", "file")
		fs.String("o", "", "output")
		pos, err := fs.Parse(tt.args, tt.min, tt.max)
		var ee ExitError
		switch {
		case tt.code < 0 && err != nil:
			t.Errorf("%q: %v", tt.args, err)
		case tt.code >= 0 && (!errors.As(err, &ee) || ee.Code != tt.code):
			t.Errorf("%q: err %v, want exit %d", tt.args, err, tt.code)
		case !strings.Contains(out.String(), tt.want):
			t.Errorf("%q: output %q lacks %q", tt.args, out.String(), tt.want)
		case tt.code < 0 && strings.Join(pos, " ") != strings.Join(tt.pos, " "):
			t.Errorf("%q: positional %q, want %q", tt.args, pos, tt.pos)
		}
	}
}
