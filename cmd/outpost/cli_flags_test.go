package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestCommandLines: every command prints its synopsis with its positional
// arguments on --help (exit 0) and on a usage mistake (exit 2), and flags
// may come before a subcommand's operands. `outpost images --help` used to
// dial containerd for 10 s, and `images --config X ls` ignored --config.
func TestCommandLines(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want []string // in stderr
	}{
		{[]string{"images", "--help"}, 0, []string{"usage: outpost images ls | import FILE... | rm REF..."}},
		{[]string{"images"}, 2, []string{"images: missing arguments", "usage: outpost images"}},
		{[]string{"images", "tag"}, 2, []string{`unknown subcommand "tag"`}},
		{[]string{"images", "rm"}, 2, []string{"rm needs at least one argument"}},
		{[]string{"images", "--config", "/nonexistent/outpost.yaml", "ls"}, 1, []string{"/nonexistent/outpost.yaml"}},
		{[]string{"images", "ls", "--config", "/nonexistent/outpost.yaml"}, 1, []string{"/nonexistent/outpost.yaml"}},
		{[]string{"get", "--help"}, 0, []string{"usage: outpost get pods|services|nodes", "-socket"}},
		{[]string{"get"}, 2, []string{"get: missing arguments"}},
		{[]string{"logs", "a", "b"}, 2, []string{"logs: too many arguments", "usage: outpost logs POD"}},
		{[]string{"describe", "svc", "web"}, 2, []string{`only pods can be described, not "svc"`}},
		{[]string{"delete", "pod"}, 2, []string{"usage: outpost delete pod NAME..."}},
		{[]string{"exec", "web"}, 2, []string{"usage: outpost exec POD"}},
		{[]string{"apply"}, 2, []string{"-f is required"}},
		{[]string{"status", "extra"}, 2, []string{"status: too many arguments"}},
		{[]string{"netrules", "show"}, 2, []string{`unknown subcommand "show"`}},
		{[]string{"cleanup", "--help"}, 0, []string{"usage: outpost cleanup [--table NAME]"}},
		{[]string{"validate"}, 2, []string{"validate: no file given"}},
		{[]string{"get", "--bogus"}, 2, []string{"flag provided but not defined: -bogus", "usage: outpost get"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			began := time.Now()
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tt.code, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if d := time.Since(began); d > 5*time.Second {
				t.Errorf("took %v: nothing is dialled before the command line is checked", d)
			}
		})
	}
}
