// Command benchreport turns `go test -bench` output into the project's
// benchmark summary: a table on stdout and a JSON file
//
//	{"<pkg>/<Benchmark>:<unit>": {"value": N, "unit": "...", "baseline": N, "ratio": N}}
//
// A benchmark states a same-run baseline by reporting a second metric whose
// unit is "baseline:<unit>" (b.ReportMetric(v, "baseline:ms-p99")); the ratio
// is value/baseline. When a benchmark ran more than once (-count), the median
// is kept. `make bench` is the one entry point that runs it.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Figure is one measured value, with its same-run baseline when it has one.
type Figure struct {
	Value    float64  `json:"value"`
	Unit     string   `json:"unit"`
	Baseline *float64 `json:"baseline,omitempty"`
	Ratio    *float64 `json:"ratio,omitempty"`
}

func main() {
	out := flag.String("o", "dist/bench.json", "JSON file to write")
	flag.Parse()
	figs, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	if len(figs) == 0 {
		fmt.Fprintln(os.Stderr, "benchreport: no benchmark results in the input")
		os.Exit(1)
	}
	printTable(os.Stdout, figs)
	b, _ := json.MarshalIndent(figs, "", "  ")
	if err := os.MkdirAll(path.Dir(*out), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	fmt.Printf("\nwrote %s (%d figures)\n", *out, len(figs))
}

// parse reads benchmark lines and returns the figures by name.
func parse(r io.Reader) (map[string]*Figure, error) {
	samples := map[string][]float64{}
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = path.Base(strings.TrimSpace(p))
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := benchName(pkg, fields[0])
		// fields[1] is the iteration count; then value/unit pairs.
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				break
			}
			samples[name+":"+fields[i+1]] = append(samples[name+":"+fields[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	figs := map[string]*Figure{}
	for key, vs := range samples {
		name, unit, _ := strings.Cut(key, ":")
		if strings.HasPrefix(unit, "baseline:") {
			continue
		}
		f := &Figure{Value: median(vs), Unit: unit}
		if base, ok := samples[name+":baseline:"+unit]; ok {
			b := median(base)
			f.Baseline = &b
			if b != 0 {
				r := f.Value / b
				f.Ratio = &r
			}
		}
		figs[key] = f
	}
	return figs, nil
}

// benchName is "<pkg>/<name without Benchmark and the -GOMAXPROCS suffix>".
func benchName(pkg, field string) string {
	name := strings.TrimPrefix(field, "Benchmark")
	if i := strings.LastIndex(name, "-"); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	if pkg != "" {
		name = pkg + "/" + name
	}
	return name
}

func median(vs []float64) float64 {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printTable(w io.Writer, figs map[string]*Figure) {
	keys := make([]string, 0, len(figs))
	for k := range figs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "%-58s %14s %-12s %14s %8s\n", "figure", "value", "unit", "baseline", "ratio")
	for _, k := range keys {
		f := figs[k]
		name, _, _ := strings.Cut(k, ":")
		base, ratio := "", ""
		if f.Baseline != nil {
			base = num(*f.Baseline)
		}
		if f.Ratio != nil {
			ratio = strconv.FormatFloat(*f.Ratio, 'f', 2, 64)
		}
		fmt.Fprintf(w, "%-58s %14s %-12s %14s %8s\n", name, num(f.Value), f.Unit, base, ratio)
	}
}

// num prints large values whole and small ones with four significant digits.
func num(v float64) string {
	if v >= 1000 || v <= -1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
