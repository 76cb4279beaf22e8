package podfiles

import "testing"

func TestLogAttempt(t *testing.T) {
	tests := []struct {
		name    string
		attempt int
		ok      bool
	}{
		{"0.log", 0, true},
		{"12.log", 12, true},
		{"3.log.1", 3, true},
		{"3.log.tmp", 3, true},
		{"3.logs", 0, false},
		{"03.log", 0, false},
		{"-1.log", 0, false},
		{"x.log", 0, false},
		{"3", 0, false},
		{".3.log", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ok := LogAttempt(tt.name)
			if n != tt.attempt || ok != tt.ok {
				t.Errorf("LogAttempt(%q) = %d, %v; want %d, %v", tt.name, n, ok, tt.attempt, tt.ok)
			}
		})
	}
}
