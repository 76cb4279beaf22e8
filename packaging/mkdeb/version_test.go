package main

import "testing"

func TestDebVersion(t *testing.T) {
	for _, tc := range []struct {
		describe string
		commits  int
		want     string
	}{
		{"v1.2.3", 0, "1.2.3"},
		{"1.2.3", 0, "1.2.3"},
		{"v1.2.3-dirty", 0, "1.2.3+dirty"},
		{"v1.2.3-4-gabc1234", 0, "1.2.3+4.gabc1234"},
		{"v1.2.3-4-gabc1234-dirty", 0, "1.2.3+4.gabc1234+dirty"},
		{"v1.2.3-rc1", 0, "1.2.3~rc1"},
		{"v1.2.3-rc1-2-gabc1234", 0, "1.2.3~rc1+2.gabc1234"},
		{"415c98b", 312, "0.0.0+312.g415c98b"},
		{"415c98b-dirty", 312, "0.0.0+312.g415c98b+dirty"},
		{"dev", 0, ""},
		{"v1.2.3_x", 0, ""},
	} {
		got, err := debVersion(tc.describe, tc.commits)
		if tc.want == "" {
			if err == nil {
				t.Errorf("debVersion(%q) = %q, want an error", tc.describe, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("debVersion(%q, %d) = %q, %v; want %q", tc.describe, tc.commits, got, err, tc.want)
		}
	}
}

// TestDebVersionOrder: dpkg sorts the versions as the commits go.
func TestDebVersionOrder(t *testing.T) {
	dpkg := requireDpkg(t)
	order := []string{"v1.2.3-rc1", "v1.2.3-rc1-2-gabc1234", "v1.2.3", "v1.2.3-4-gabc1234", "v1.2.3-10-gdef5678", "v1.3.0"}
	for i := 1; i < len(order); i++ {
		a, _ := debVersion(order[i-1], 0)
		b, _ := debVersion(order[i], 0)
		if err := runQuiet(dpkg, "--compare-versions", a, "lt", b); err != nil {
			t.Errorf("dpkg does not sort %s (%s) before %s (%s)", a, order[i-1], b, order[i])
		}
	}
}
