package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/cmd/outpost/config"
)

func TestAgentConfigErrors(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte("nodename: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"agent", "--config", cfg}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "field nodename not found") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	code = run([]string{"agent", "--config", filepath.Join(t.TempDir(), "missing.yaml")}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "no such file") {
		t.Fatalf("a missing explicit config file was accepted: exit %d: %s", code, errOut.String())
	}
}

func TestLoggerFormats(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(configLog("info", "json"), &buf)
	log.Info().Str("pod", "web").Msg("started")
	if !strings.HasPrefix(buf.String(), "{") || !strings.Contains(buf.String(), `"pod":"web"`) {
		t.Fatalf("json format: %q", buf.String())
	}
	buf.Reset()
	log = newLogger(configLog("warn", "console"), &buf)
	log.Info().Msg("hidden")
	log.Warn().Str("pod", "web").Msg("shown")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), "pod=web") {
		t.Fatalf("console format: %q", buf.String())
	}
}

func configLog(level, format string) config.Log { return config.Log{Level: level, Format: format} }
