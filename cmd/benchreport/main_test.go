package main

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := `goos: linux
pkg: github.com/outpost-edge/outpost/store
BenchmarkApply50Pods-2   	     200	   1500000 ns/op	   20000 B/op	     300 allocs/op
BenchmarkApply50Pods-2   	     200	   1700000 ns/op	   20000 B/op	     300 allocs/op
BenchmarkApply50Pods-2   	     200	   1600000 ns/op	   20000 B/op	     300 allocs/op
pkg: github.com/outpost-edge/outpost/runtime
BenchmarkPodStart/local-2 	      30	  120.5 ms-p99	  100.0 baseline:ms-p99
PASS
`
	figs, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	f := figs["store/Apply50Pods:ns/op"]
	if f == nil || f.Value != 1600000 || f.Baseline != nil {
		t.Fatalf("apply = %+v", f)
	}
	if figs["store/Apply50Pods:allocs/op"].Value != 300 {
		t.Fatal("allocs/op missing")
	}
	p := figs["runtime/PodStart/local:ms-p99"]
	if p == nil || *p.Baseline != 100 || *p.Ratio != 1.205 {
		t.Fatalf("pod start = %+v", p)
	}
	if _, ok := figs["runtime/PodStart/local:baseline:ms-p99"]; ok {
		t.Fatal("baseline listed as a figure of its own")
	}
}
