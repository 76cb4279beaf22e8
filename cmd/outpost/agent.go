package main

import (
	"flag"
	"io"
	"os"

	"github.com/outpost-edge/outpost/agent/config"
)

// runAgent loads the configuration and starts the node agent. The runtime and
// agent issues fill in what it runs; today it checks its configuration and
// says there is nothing to run yet.
func runAgent(args []string, _, stderr io.Writer) error {
	fl := flag.NewFlagSet("agent", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", config.DefaultPath, "configuration file")
	dataDir := fl.String("data-dir", "", "data directory (overrides dataDir)")
	logLevel := fl.String("log-level", "", "log level (overrides log.level)")
	if err := fl.Parse(args); err != nil {
		return exitError{2}
	}
	cfg, err := config.Load(*cfgPath, *cfgPath == config.DefaultPath)
	if err != nil {
		return err
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *logLevel != "" {
		cfg.Log.Level = *logLevel
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(cfg.Log, os.Stderr)
	log.Info().Str("node", cfg.NodeName).Str("dataDir", cfg.DataDir).Str("version", version).
		Msg("nothing to run yet: the runtime and the agent arrive with their issues")
	return nil
}
