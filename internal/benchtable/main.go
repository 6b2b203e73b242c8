// Command benchtable reads `go test -bench` output on stdin, takes the
// median of every figure over the rounds it finds (several lines of one
// benchmark: -count, or runs appended), and prints a markdown table of
// measures against baselines and targets, as a spec file describes.
//
//	go test -run '^$' -bench . -count 5 ./core | go run ./internal/benchtable -spec spec.txt
//
// The spec has one row a line, four fields separated by " | ", and # comments:
//
//	measure | value | baseline | target
//	eth0 bulk, send | Bulk/eth0-send MB/s | Bulk/raw-tcp MB/s | >= 0.5x
//	echo vs floor   | Echo64/eth0 ns/op | Echo64/floor-unix ns/op + Echo64/floor-tcp ns/op | <= 1.3x
//	one Send        | Transport/send-64B ns/op | - | <= 10000
//
// A value or baseline is a benchmark name without its "Benchmark" prefix
// and GOMAXPROCS suffix, then a unit as go test prints it; a baseline may
// add several (their medians add up), or be "-" (none). A target ending in
// x bounds the ratio value/baseline; otherwise it bounds the value itself.
// The exit status is 0 whether targets are met or not, 1 on bad input.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	spec := flag.String("spec", "", "the table's spec file (required)")
	all := flag.Bool("all", false, "also list the median of every figure read")
	flag.Parse()
	if *spec == "" {
		fmt.Fprintln(os.Stderr, "benchtable: -spec is required")
		os.Exit(2)
	}
	rows, err := readSpec(*spec)
	if err == nil {
		var figs figures
		figs, err = readBench(os.Stdin)
		if err == nil {
			printTable(os.Stdout, rows, figs)
			if *all {
				printAll(os.Stdout, figs)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

// figure names one number of one benchmark: "Bulk/raw-tcp" and "MB/s".
type figure struct{ bench, unit string }

func (f figure) String() string { return f.bench + " " + f.unit }

// figures holds every value read of each figure, one a round, and the
// order they first appeared in.
type figures struct {
	values map[figure][]float64
	order  []figure
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// readBench parses benchmark result lines:
//
//	BenchmarkBulk/raw-tcp-2  6540  32283 ns/op  2030.06 MB/s  0.4277 cpu-s/GB
func readBench(r io.Reader) (figures, error) {
	figs := figures{values: make(map[figure][]float64)}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue // not a result line
		}
		bench := procSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		for k := 2; k+1 < len(f); k += 2 {
			v, err := strconv.ParseFloat(f[k], 64)
			if err != nil {
				break
			}
			fig := figure{bench, f[k+1]}
			if _, seen := figs.values[fig]; !seen {
				figs.order = append(figs.order, fig)
			}
			figs.values[fig] = append(figs.values[fig], v)
		}
	}
	return figs, sc.Err()
}

// median returns the median of a figure's values and how many there are.
func (figs figures) median(f figure) (float64, int) {
	v := slices.Clone(figs.values[f])
	if len(v) == 0 {
		return math.NaN(), 0
	}
	slices.Sort(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + m) / 2
	}
	return m, len(v)
}

type row struct {
	measure  string
	value    figure
	baseline []figure // summed; none: no baseline
	target   target
}

type target struct {
	text  string  // as written
	le    bool    // value (or ratio) <= bound; else >=
	bound float64 // the bound
	ratio bool    // the bound is on value/baseline
}

func (t target) met(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	if t.le {
		return v <= t.bound
	}
	return v >= t.bound
}

func readSpec(path string) ([]row, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows []row
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := parseRow(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n+1, err)
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	return rows, nil
}

func parseRow(line string) (row, error) {
	f := strings.Split(line, " | ")
	if len(f) != 4 {
		return row{}, fmt.Errorf("want 4 fields separated by \" | \", got %d", len(f))
	}
	for k := range f {
		f[k] = strings.TrimSpace(f[k])
	}
	r := row{measure: f[0]}
	var err error
	if r.value, err = parseFigure(f[1]); err != nil {
		return row{}, err
	}
	if f[2] != "-" {
		for _, s := range strings.Split(f[2], " + ") {
			b, err := parseFigure(s)
			if err != nil {
				return row{}, err
			}
			r.baseline = append(r.baseline, b)
		}
	}
	if r.target, err = parseTarget(f[3]); err != nil {
		return row{}, err
	}
	if r.target.ratio && r.baseline == nil {
		return row{}, errors.New("a ratio target needs a baseline")
	}
	return r, nil
}

func parseFigure(s string) (figure, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return figure{}, fmt.Errorf("%q: want a benchmark name and a unit", s)
	}
	return figure{f[0], f[1]}, nil
}

func parseTarget(s string) (target, error) {
	t := target{text: s}
	rest, ok := strings.CutPrefix(s, "<=")
	if ok {
		t.le = true
	} else if rest, ok = strings.CutPrefix(s, ">="); !ok {
		return target{}, fmt.Errorf("target %q: want <= or >= and a number, x for a ratio", s)
	}
	rest = strings.TrimSpace(rest)
	rest, t.ratio = strings.CutSuffix(rest, "x")
	b, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
	if err != nil {
		return target{}, fmt.Errorf("target %q: %v", s, err)
	}
	t.bound = b
	return t, nil
}

func printTable(w io.Writer, rows []row, figs figures) {
	rounds := 0
	for _, v := range figs.values {
		rounds = max(rounds, len(v))
	}
	fmt.Fprintf(w, "Medians of %d rounds; the baseline was measured in the same rounds.\n\n", rounds)
	fmt.Fprintln(w, "| measure | median | baseline median | ratio | target | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range rows {
		v, n := figs.median(r.value)
		value := withCount(format(v, r.value.unit), n, rounds)
		base, ratio, judged := "", "", v
		if r.baseline != nil {
			sum, parts := 0.0, make([]string, len(r.baseline))
			least := rounds
			for k, b := range r.baseline {
				m, bn := figs.median(b)
				sum += m
				least = min(least, bn)
				parts[k] = b.bench
			}
			base = withCount(format(sum, r.baseline[0].unit), least, rounds) + " (" + strings.Join(parts, " + ") + ")"
			ratio = formatRatio(v / sum)
			if r.target.ratio {
				judged = v / sum
			}
		}
		met := "no"
		if r.target.met(judged) {
			met = "yes"
		}
		if math.IsNaN(judged) {
			met = "not measured"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.measure, value, base, ratio, r.target.text, met)
	}
}

func printAll(w io.Writer, figs figures) {
	fmt.Fprintln(w, "\n| benchmark | unit | median | rounds |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, f := range figs.order {
		m, n := figs.median(f)
		fmt.Fprintf(w, "| %s | %s | %s | %d |\n", f.bench, f.unit, number(m), n)
	}
}

func withCount(s string, n, rounds int) string {
	if n == rounds {
		return s
	}
	return fmt.Sprintf("%s (%d of %d rounds)", s, n, rounds)
}

// format writes a median with its unit, "ns/op" as "ns".
func format(v float64, unit string) string {
	if math.IsNaN(v) {
		return "-"
	}
	switch unit {
	case "ns/op", "p50-ns", "p99-ns":
		if unit != "ns/op" {
			return number(v) + " ns (" + strings.TrimSuffix(unit, "-ns") + ")"
		}
		unit = "ns"
	}
	return number(v) + " " + unit
}

// number writes three significant digits or more, no exponent.
func number(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "-"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

func formatRatio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "-"
	}
	return number(r) + "x"
}
