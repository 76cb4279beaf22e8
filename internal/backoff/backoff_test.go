package backoff

import (
	"testing"
	"time"
)

func TestPolicy(t *testing.T) {
	// Rand returning n-1 shows the cap of each draw.
	p := &Policy{Min: time.Second, Max: 2 * time.Minute, Reset: time.Minute, Rand: func(n int64) int64 { return n - 1 }}
	var caps []time.Duration
	for range 10 {
		caps = append(caps, p.Next())
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 120, 120, 120}
	for i := range want {
		if caps[i] != want[i]*time.Second {
			t.Fatalf("caps = %v, want %v seconds", caps, want)
		}
	}
	tests := []struct {
		name    string
		up      time.Duration
		reset   bool
		wantCap time.Duration
	}{
		{"flapping keeps backing off", 5 * time.Second, false, 2 * time.Minute},
		{"stable connection resets", time.Minute, true, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.Connected(tt.up)
			if got := p.Next(); got != tt.wantCap {
				t.Fatalf("Next = %v, want %v", got, tt.wantCap)
			}
		})
	}
}

func TestFullJitterSpreads(t *testing.T) {
	// A thousand nodes losing the broker at once must not come back at once.
	seen := map[time.Duration]bool{}
	for range 1000 {
		p := &Policy{Min: time.Second, Max: 2 * time.Minute, Reset: time.Minute}
		for range 5 {
			p.Next()
		}
		d := p.Next()
		if d < 0 || d > 32*time.Second {
			t.Fatalf("draw %v outside [0, 32s]", d)
		}
		seen[d.Truncate(time.Second)] = true
	}
	if len(seen) < 25 {
		t.Fatalf("draws fell in %d one-second slots, want them spread over ~33", len(seen))
	}
}

func TestExponential(t *testing.T) {
	tests := []struct {
		n    int
		want time.Duration
	}{
		{-1, 0}, {0, 0}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second},
		{6, 5 * time.Minute}, {7, 5 * time.Minute}, {1000, 5 * time.Minute},
	}
	for _, tt := range tests {
		if got := Exponential(10*time.Second, 5*time.Minute, tt.n); got != tt.want {
			t.Errorf("Exponential(10s, 5m, %d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}
