package api

import (
	"errors"
	"testing"
)

// Cases from the grammar documented in k8s.io/apimachinery's resource
// package and its quantity tests.
func TestParseQuantity(t *testing.T) {
	tests := []struct {
		in           string
		value, milli int64
	}{
		{"0", 0, 0},
		{"1", 1, 1000},
		{"500m", 1, 500},
		{"100m", 1, 100},
		{"1.5", 2, 1500},
		{"0.1", 1, 100},
		{".5", 1, 500},
		{"5.", 5, 5000},
		{"+5", 5, 5000},
		{"-5", -5, -5000},
		{"1k", 1000, 1000000},
		{"1M", 1000000, 1000000000},
		{"1G", 1000000000, 1000000000000},
		{"1Ki", 1024, 1024000},
		{"64Mi", 64 << 20, 64 << 20 * 1000},
		{"1Gi", 1 << 30, 1 << 30 * 1000},
		{"1.5Gi", 3 << 29, 3 << 29 * 1000},
		{"1e3", 1000, 1000000},
		{"1E3", 1000, 1000000},
		{"1e-3", 1, 1},
		{"12e+2", 1200, 1200000},
		{"129e6", 129000000, 129000000000},
		{"1Ei", 1 << 60, 9223372036854775807},
		{"0.0001", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			q, err := ParseQuantity(tt.in)
			if err != nil {
				t.Fatalf("ParseQuantity(%q): %v", tt.in, err)
			}
			if got := q.Value(); got != tt.value {
				t.Errorf("Value() = %d, want %d", got, tt.value)
			}
			if got := q.MilliValue(); got != tt.milli {
				t.Errorf("MilliValue() = %d, want %d", got, tt.milli)
			}
			if q.String() != tt.in {
				t.Errorf("String() = %q, want the text as written", q.String())
			}
		})
	}
}

func TestParseQuantityInvalid(t *testing.T) {
	for _, in := range []string{"", "1n", "1.1.1", "abc", "1Kb", "1KiB", "--1", "+-1", ".", "1e", "1e1000",
		"1 Gi", " 1", "Mi", "1ki", "1e3Mi", "0x10", "1,5", "99999999999999999999999999999999999999999999999999999999999999999"} {
		t.Run(in, func(t *testing.T) {
			if _, err := ParseQuantity(in); !errors.Is(err, ErrQuantity) {
				t.Fatalf("ParseQuantity(%q) = %v, want ErrQuantity", in, err)
			}
		})
	}
}

func TestQuantityCmpAndJSON(t *testing.T) {
	if MustParseQuantity("1").Cmp(MustParseQuantity("1000m")) != 0 {
		t.Error("1 != 1000m")
	}
	if MustParseQuantity("1Gi").Cmp(MustParseQuantity("1G")) <= 0 {
		t.Error("1Gi <= 1G")
	}
	var q Quantity
	if err := q.UnmarshalJSON([]byte(`"250m"`)); err != nil || q.MilliValue() != 250 {
		t.Fatalf("unmarshal string: %v %d", err, q.MilliValue())
	}
	if err := q.UnmarshalJSON([]byte(`2`)); err != nil || q.Value() != 2 {
		t.Fatalf("unmarshal number: %v %d", err, q.Value())
	}
	b, _ := q.MarshalJSON()
	if string(b) != `"2"` {
		t.Fatalf("marshal = %s", b)
	}
}
