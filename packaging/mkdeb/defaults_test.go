package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/outpost-edge/outpost/cmd/outpost/config"
)

// TestDefaultConfig: the shipped config.yaml means "all defaults", and
// uncommenting every key of it gives config.Default(): decoded over a zero
// Config, so a key the file leaves out or a value that is not the real
// default both fail.
func TestDefaultConfig(t *testing.T) {
	file, err := defaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	def := config.Default()
	shipped := config.Default()
	if err := config.Parse(file, &shipped); err != nil {
		t.Fatalf("the shipped file does not parse: %v", err)
	}
	if !reflect.DeepEqual(shipped, def) {
		t.Errorf("the shipped file is not all defaults:\n%+v\nwant\n%+v", shipped, def)
	}

	body, ok := bytes.CutPrefix(file, []byte(configHeader))
	if !ok {
		t.Fatal("the file does not start with the header")
	}
	var uncommented strings.Builder
	for _, line := range strings.SplitAfter(string(body), "\n") {
		if line != "" && !strings.HasPrefix(line, "# ") {
			t.Fatalf("line %q is not commented out", line)
		}
		uncommented.WriteString(strings.TrimPrefix(line, "# "))
	}
	var got config.Config
	dec := yaml.NewDecoder(strings.NewReader(uncommented.String()))
	dec.KnownFields(true)
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("uncommented, the file does not decode: %v\n%s", err, uncommented.String())
	}
	// Compared as YAML: the file's "groups: []" decodes to an empty slice
	// where Default() has nil, which the agent treats alike.
	gotYAML, err := yaml.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	defYAML, err := yaml.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	if string(gotYAML) != string(defYAML) {
		t.Errorf("uncommented, the file is not config.Default():\n%s\nwant\n%s", gotYAML, defYAML)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("uncommented, the file is not valid: %v", err)
	}
}
