package main

import (
	"os/exec"
	"testing"

	"github.com/outpost-edge/outpost/internal/testenv"
)

func requireDpkg(t *testing.T) string {
	t.Helper()
	return testenv.RequireBinary(t, "dpkg", "dpkg")
}

func runQuiet(name string, args ...string) error {
	return exec.Command(name, args...).Run()
}
