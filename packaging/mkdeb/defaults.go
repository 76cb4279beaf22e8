package main

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/outpost-edge/outpost/cmd/outpost/config"
)

const configHeader = `# Outpost agent configuration, read by 'outpost agent' (the outpost service).
#
# Every key below is commented out and shows its default: uncomment and change
# what you need, then 'systemctl restart outpost' (the pods keep running).
# Decoding is strict: an unknown key or a bad value stops the agent with an
# error naming the key ('journalctl -u outpost' shows it).
# What each key means: /usr/share/doc/outpost/config.md.
# This file is a conffile: upgrades keep your changes.

`

// defaultConfig is /etc/outpost/config.yaml: every key of
// config.Default(), commented out, so the file means "all defaults" and
// shows them.
func defaultConfig() ([]byte, error) {
	def := config.Default()
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(def); err != nil {
		return nil, fmt.Errorf("encode the default configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	var out strings.Builder
	out.WriteString(configHeader)
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "nodeName:") {
			line = strings.TrimSuffix(line, "\n") + "  # the hostname, unless a stock one (raspberrypi...): then <nodeNamePrefix>-<8 hex digits of this device>\n"
		}
		out.WriteString("# " + line)
	}
	return []byte(out.String()), nil
}
