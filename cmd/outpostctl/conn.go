package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/outpost-edge/outpost/cmd/outpostctl/fleet"
	"github.com/outpost-edge/outpost/internal/cli"
	"github.com/outpost-edge/outpost/sync/mqttlink"
	"github.com/outpost-edge/outpost/sync/protocol"
)

// connectTimeout bounds connecting and every request but waits.
const connectTimeout = 30 * time.Second

// connFlags are the broker flags every command that connects takes; set
// flags override the configuration file.
type connFlags struct {
	config                             string
	brokers                            cli.StringList
	username, password                 string
	ca, cert, keyFile, serverName, pfx string
}

func (f *connFlags) register(fl *flag.FlagSet) {
	f.registerTopics(fl)
	fl.Var(&f.brokers, "broker", "broker URL: tcp://, mqtt://, ssl://, tls://, mqtts://, ws://, wss:// (repeatable: tried in order)")
	fl.StringVar(&f.username, "username", "", "broker username")
	fl.StringVar(&f.password, "password", "", "broker password (default $OUTPOSTCTL_PASSWORD)")
	fl.StringVar(&f.ca, "ca", "", "CA file that verifies the broker (TLS)")
	fl.StringVar(&f.cert, "cert", "", "client certificate for mutual TLS")
	fl.StringVar(&f.keyFile, "key-file", "", "client certificate's private key for mutual TLS")
	fl.StringVar(&f.serverName, "server-name", "", "name to check in the broker's certificate")
}

// registerTopics registers the flags that name the topics, without the
// connection's: for a command that needs the prefix and dials nothing.
func (f *connFlags) registerTopics(fl *flag.FlagSet) {
	fl.StringVar(&f.config, "config", "", "YAML file with the agent's mqtt keys (brokers, username, password, tls, prefix), or an agent configuration (default $OUTPOSTCTL_CONFIG, else ~/.config/outpost/outpostctl.yaml if it exists)")
	fl.StringVar(&f.pfx, "prefix", "", "topic prefix (default outpost/v1)")
}

// configPath is --config, $OUTPOSTCTL_CONFIG, or the per-user default when
// that file exists ("" when there is none).
func (f *connFlags) configPath() string {
	if f.config != "" {
		return f.config
	}
	if p := os.Getenv("OUTPOSTCTL_CONFIG"); p != "" {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".config", "outpost", "outpostctl.yaml")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// load reads the configuration file, applies the flags over it and checks
// the result.
func (f *connFlags) load() (mqttlink.Config, error) {
	cfg, err := f.settings()
	if err != nil {
		return cfg, err
	}
	if len(cfg.Brokers) == 0 {
		return cfg, errors.New("no broker: give --broker URL, or brokers: in --config")
	}
	return cfg, cfg.Validate()
}

// prefix is the topic prefix apply would publish under: --prefix, else the
// configuration file's, else the default. It dials nothing.
func (f *connFlags) prefix() (string, error) {
	cfg, err := f.settings()
	if err != nil {
		return "", err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = protocol.DefaultPrefix
	}
	if err := protocol.ValidPrefix(cfg.Prefix); err != nil {
		return "", fmt.Errorf("%w: %w", fleet.ErrInvalid, err)
	}
	return cfg.Prefix, nil
}

// settings reads the configuration file, then applies the flags over it.
func (f *connFlags) settings() (mqttlink.Config, error) {
	cfg := mqttlink.DefaultConfig()
	if p := f.configPath(); p != "" {
		data, err := os.ReadFile(p)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		if err := parseConfig(data, &cfg); err != nil {
			return cfg, fmt.Errorf("%s: %w", p, err)
		}
	}
	if len(f.brokers) > 0 {
		cfg.Brokers = f.brokers
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Username, f.username)
	set(&cfg.Password, os.Getenv("OUTPOSTCTL_PASSWORD"))
	set(&cfg.Password, f.password)
	set(&cfg.TLS.CAFile, f.ca)
	set(&cfg.TLS.CertFile, f.cert)
	set(&cfg.TLS.KeyFile, f.keyFile)
	set(&cfg.TLS.ServerName, f.serverName)
	set(&cfg.Prefix, f.pfx)
	return cfg, nil
}

// parseConfig decodes data strictly over cfg: the keys of the agent's mqtt
// section, or a document with an mqtt: key (an agent configuration), whose
// other keys are not looked at.
func parseConfig(data []byte, cfg *mqttlink.Config) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%w: %v", fleet.ErrInvalid, err)
	}
	if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		m := doc.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == "mqtt" {
				sub, err := yaml.Marshal(m.Content[i+1])
				if err != nil {
					return err
				}
				data = sub
				break
			}
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %v", fleet.ErrInvalid, err)
	}
	return nil
}

// dial loads the configuration and connects.
func (f *connFlags) dial(ctx context.Context) (*fleet.Client, error) {
	cfg, err := f.load()
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	return fleet.Dial(cctx, cfg, fleet.Options{})
}

// baseContext is the context every command starts from; tests replace it
// to stop a command that follows.
var baseContext = context.Background

// cliContext ends on SIGINT or SIGTERM.
func cliContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(baseContext(), os.Interrupt, syscall.SIGTERM)
}
