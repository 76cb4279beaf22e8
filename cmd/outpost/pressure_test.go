package main

import (
	"context"
	"testing"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/agent/nodestatus"
	"github.com/outpost-edge/outpost/runtime/images"
)

type fakeGC struct {
	deleted []string
	calls   int
}

func (f *fakeGC) CollectUnused(context.Context) (images.GCResult, error) {
	f.calls++
	return images.GCResult{Deleted: f.deleted}, nil
}

func TestImagesFirst(t *testing.T) {
	met := func(signals ...nodestatus.Signal) []nodestatus.ThresholdMet {
		var out []nodestatus.ThresholdMet
		for _, s := range signals {
			out = append(out, nodestatus.ThresholdMet{Threshold: nodestatus.Threshold{Signal: s}})
		}
		return out
	}
	tests := []struct {
		name      string
		met       []nodestatus.ThresholdMet
		deleted   []string
		wantCalls int
		want      []nodestatus.Signal
	}{
		{"no disk pressure: no GC", met(nodestatus.SignalMemoryAvailable), []string{"x"}, 0, []nodestatus.Signal{nodestatus.SignalMemoryAvailable}},
		{"disk, images freed: no eviction this round", met(nodestatus.SignalNodeFSAvailable), []string{"x"}, 1, nil},
		{"inodes, images freed", met(nodestatus.SignalNodeFSInodesFree), []string{"x"}, 1, nil},
		{"disk and memory, images freed: memory still evicts", met(nodestatus.SignalNodeFSAvailable, nodestatus.SignalMemoryAvailable), []string{"x"}, 1, []nodestatus.Signal{nodestatus.SignalMemoryAvailable}},
		{"disk, nothing to delete: pods go", met(nodestatus.SignalNodeFSAvailable), nil, 1, []nodestatus.Signal{nodestatus.SignalNodeFSAvailable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gc := &fakeGC{deleted: tt.deleted}
			got := imagesFirst(context.Background(), tt.met, gc, zerolog.Nop())
			if gc.calls != tt.wantCalls {
				t.Errorf("GC calls %d, want %d", gc.calls, tt.wantCalls)
			}
			var signals []nodestatus.Signal
			for _, m := range got {
				signals = append(signals, m.Threshold.Signal)
			}
			if len(signals) != len(tt.want) {
				t.Fatalf("left %v, want %v", signals, tt.want)
			}
			for i := range signals {
				if signals[i] != tt.want[i] {
					t.Fatalf("left %v, want %v", signals, tt.want)
				}
			}
		})
	}
}
