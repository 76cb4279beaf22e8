package api

import (
	"strings"
	"testing"
	"time"
)

// TestAliasExpansionBounded: a "billion laughs" document, small on the wire
// but huge once its aliases are expanded, is rejected quickly.
func TestAliasExpansionBounded(t *testing.T) {
	const n = 300
	var b strings.Builder
	b.WriteString("apiVersion: outpost.dev/v1\nkind: NodeState\ngeneration: 1\npods:\n")
	b.WriteString("- metadata: {name: p0}\n  spec:\n    containers: &c\n    - {name: c0, image: 'b:1', env: &e [")
	b.WriteString(strings.Repeat("{name: a, value: b},", n))
	b.WriteString("]}\n")
	b.WriteString(strings.Repeat("    - {name: c1, image: 'b:1', env: *e}\n", n-1))
	b.WriteString(strings.Repeat("- {metadata: {name: p1}, spec: {containers: *c}}\n", n-1))
	start := time.Now()
	_, err := ParseManifest([]byte(b.String()))
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	if err == nil || !strings.Contains(err.Error(), "expands too far") {
		t.Fatalf("err = %.300v", err)
	}
}
