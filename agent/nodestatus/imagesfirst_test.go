package nodestatus

import (
	"context"
	"slices"
	"testing"
)

// TestImagesFirst: under disk pressure unused images are deleted before
// any pod is ranked for eviction; memory pressure in the same round still
// counts.
func TestImagesFirst(t *testing.T) {
	met := func(signals ...Signal) []ThresholdMet {
		var out []ThresholdMet
		for _, s := range signals {
			out = append(out, ThresholdMet{Threshold: Threshold{Signal: s}})
		}
		return out
	}
	tests := []struct {
		name      string
		met       []ThresholdMet
		deleted   []string
		wantCalls int
		want      []Signal
	}{
		{"no disk pressure: no GC", met(SignalMemoryAvailable), []string{"x"}, 0, []Signal{SignalMemoryAvailable}},
		{"disk, images freed: no eviction this round", met(SignalNodeFSAvailable), []string{"x"}, 1, nil},
		{"inodes, images freed", met(SignalNodeFSInodesFree), []string{"x"}, 1, nil},
		{"disk and memory, images freed: memory still evicts", met(SignalNodeFSAvailable, SignalMemoryAvailable), []string{"x"}, 1, []Signal{SignalMemoryAvailable}},
		{"disk, nothing to delete: pods go", met(SignalNodeFSAvailable), nil, 1, []Signal{SignalNodeFSAvailable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			e := NewEvictor(EvictorConfig{UnusedImages: func(context.Context) ([]string, error) {
				calls++
				return tt.deleted, nil
			}})
			got := e.imagesFirst(context.Background(), tt.met)
			if calls != tt.wantCalls {
				t.Errorf("GC calls %d, want %d", calls, tt.wantCalls)
			}
			var signals []Signal
			for _, m := range got {
				signals = append(signals, m.Threshold.Signal)
			}
			if !slices.Equal(signals, tt.want) {
				t.Fatalf("left %v, want %v", signals, tt.want)
			}
		})
	}
}
