package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateCommand(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(`apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: c
    image: busybox:1
    livenessProbe: {grpc: {port: 80}}
    ports: [{containerPort: 0}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"examples", []string{"-f", "../../examples"}, 0, []string{"ok: 2 file(s), 2 pod(s), 1 service(s)"}},
		{"bad file", []string{"-f", bad}, 1, []string{
			bad + ": line 8: pods[web].spec.containers[0].livenessProbe.grpc: not supported",
			"1 problem(s) in 1 file(s)"}},
		{"missing file", []string{"-f", "/nonexistent.yaml"}, 1, []string{"no such file"}},
		{"no arguments", nil, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append([]string{"validate"}, tt.args...), &out, &errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errOut.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String()+errOut.String(), w) {
					t.Errorf("output does not contain %q:\n%s%s", w, out.String(), errOut.String())
				}
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unknown command "frobnicate"`) {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}
