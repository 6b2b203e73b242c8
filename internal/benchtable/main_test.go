package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const benchOutput = `goos: linux
BenchmarkBulk/raw-tcp-2        	    6540	     32283 ns/op	2000.00 MB/s	  0.40 cpu-s/GB
BenchmarkBulk/eth0-send-2      	     620	    322982 ns/op	 200.00 MB/s	  6.00 cpu-s/GB
BenchmarkEcho64/floor-unix-2   	    9907	     20000 ns/op
BenchmarkEcho64/floor-tcp-2    	    5850	     30000 ns/op
BenchmarkEcho64/eth0-2         	     702	     60000 ns/op	 50000 p50-ns	 90000 p99-ns
BenchmarkTransport/send-64B-2  	    2100	      9000 ns/op	   7.11 MB/s
--- FAIL: BenchmarkBulk/lo0
    bench_test.go:1: something
BenchmarkBulk/raw-tcp-2        	    6540	     32283 ns/op	1000.00 MB/s	  0.50 cpu-s/GB
BenchmarkBulk/eth0-send-2      	     620	    322982 ns/op	 400.00 MB/s	  7.00 cpu-s/GB
BenchmarkBulk/raw-tcp-2        	    6540	     32283 ns/op	3000.00 MB/s	  0.60 cpu-s/GB
BenchmarkBulk/eth0-send-2      	     620	    322982 ns/op	 100.00 MB/s	  8.00 cpu-s/GB
PASS
`

const spec = `# measure | value | baseline | target
send | Bulk/eth0-send MB/s | Bulk/raw-tcp MB/s | >= 0.5x
cpu | Bulk/eth0-send cpu-s/GB | Bulk/raw-tcp cpu-s/GB | <= 2.5x
echo | Echo64/eth0 ns/op | Echo64/floor-unix ns/op + Echo64/floor-tcp ns/op | <= 1.3x
one send | Transport/send-64B ns/op | - | <= 10000
lo0 | Bulk/lo0 MB/s | Bulk/raw-tcp MB/s | >= 0.35x
`

func TestTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spec")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	rows, err := readSpec(path)
	if err != nil {
		t.Fatal(err)
	}
	figs, err := readBench(strings.NewReader(benchOutput))
	if err != nil {
		t.Fatal(err)
	}
	if m, n := figs.median(figure{"Bulk/raw-tcp", "MB/s"}); m != 2000 || n != 3 {
		t.Errorf("raw-tcp MB/s: median %v of %d, want 2000 of 3", m, n)
	}
	var out bytes.Buffer
	printTable(&out, rows, figs)
	for _, want := range []string{
		"Medians of 3 rounds",
		"| send | 200 MB/s | 2000 MB/s (Bulk/raw-tcp) | 0.100x | >= 0.5x | no |",
		"| cpu | 7.00 cpu-s/GB | 0.500 cpu-s/GB (Bulk/raw-tcp) | 14.0x | <= 2.5x | no |",
		"| echo | 60000 ns (1 of 3 rounds) | 50000 ns (1 of 3 rounds) (Echo64/floor-unix + Echo64/floor-tcp) | 1.20x | <= 1.3x | yes |",
		"| one send | 9000 ns (1 of 3 rounds) |  |  | <= 10000 | yes |",
		"| lo0 | - (0 of 3 rounds) | 2000 MB/s (Bulk/raw-tcp) | - | >= 0.35x | not measured |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSpecErrors(t *testing.T) {
	for _, line := range []string{
		"a | b | c",
		"a | X MB/s | - | >= 0.5x",
		"a | X | - | <= 3",
		"a | X ns/op | - | about 3",
	} {
		if _, err := parseRow(line); err == nil {
			t.Errorf("parseRow(%q) = nil error", line)
		}
	}
}
