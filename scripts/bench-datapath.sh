#!/usr/bin/env bash
# bench-datapath.sh measures the data path through the plugin boundary next
# to raw baselines and prints issue #7's table (markdown) of medians.
#
#   scripts/bench-datapath.sh                  # 5 rounds, -benchtime 1s
#   scripts/bench-datapath.sh -count 3 -benchtime 2s -raw /tmp/bench.txt -all
#
# Options:
#   -count N       rounds (default 5). Each round runs every row and its
#                  baseline once, one after the other, so a busy moment on a
#                  shared machine hits both; the table shows medians.
#   -benchtime D   go test -benchtime of the timed benchmarks (default 1s).
#   -cycles N      connect/send/close cycles of the heap measure, after its
#                  warm-up (default 20000).
#   -raw FILE      also keep the raw go test output in FILE.
#   -all           also list the median of every figure measured.
#
# Needs Go and Linux (/proc for the plugin's CPU time). Run from anywhere in
# the repository; takes about a minute a round. The benchmarks live in
# core/bench_test.go, core/benchproc_test.go, core/nulldriver_test.go and
# core/heap_bench_test.go; the table is computed by internal/benchtable.
# Targets (issue #7): eth0 bulk >= 0.5x raw TCP each direction; lo0 bulk
# >= 0.35x; CPU per GB <= 2.5x raw; echo <= 1.3x the floor (a Unix-socket
# round trip plus a TCP round trip between two processes); echo p99 <= 8x
# raw in-process TCP's; one 64-byte Send <= 10 us; 16 sockets >= 0.45x;
# connect+close >= 0.4x; heap per closed socket 0 (40 B per cycle of two
# sockets is the noise allowance).
set -euo pipefail

count=5
benchtime=1s
cycles=20000
raw=
all=
while [ $# -gt 0 ]; do
	case "$1" in
	-count) count=$2; shift 2 ;;
	-benchtime) benchtime=$2; shift 2 ;;
	-cycles) cycles=$2; shift 2 ;;
	-raw) raw=$2; shift 2 ;;
	-all) all=-all; shift ;;
	-h | -help | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-datapath.sh: unknown argument $1 (try -help)" >&2; exit 2 ;;
	esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$root"
go test -c -o "$work/core.test" ./core
go build -o "$work/benchtable" ./internal/benchtable

# The benchmarks of the table, and nothing else.
timed='^BenchmarkBulk$/^(raw-tcp|eth0-send|eth0-recv|lo0)$'
timed+='|^BenchmarkBulk16$/^(raw-tcp|eth0-send)$'
timed+='|^BenchmarkEcho64$/^(floor-unix|floor-tcp|raw-tcp-inprocess|eth0)$'
timed+='|^BenchmarkTransport$/^send-64B$'
timed+='|^BenchmarkConnectClose$/^(raw-tcp|eth0)$'

out="$work/bench.txt"
cd "$root/core"
for round in $(seq "$count"); do
	echo "round $round of $count" >&2
	# A failed benchmark leaves its row short of a round (the table says
	# so); its error is in the output kept by -raw.
	"$work/core.test" -test.run '^$' -test.bench "$timed" -test.benchtime "$benchtime" >>"$out" ||
		echo "round $round: a benchmark failed" >&2
	"$work/core.test" -test.run '^$' -test.bench '^BenchmarkHeapPerClosedSocket$' -test.benchtime "${cycles}x" >>"$out" ||
		echo "round $round: the heap benchmark failed" >&2
done
[ -n "$raw" ] && cp "$out" "$raw"

cat >"$work/spec.txt" <<'EOF'
# measure | value | baseline | target
eth0 bulk send, 64 KiB writes: app Send -> raw TCP server | Bulk/eth0-send MB/s | Bulk/raw-tcp MB/s | >= 0.5x
eth0 bulk receive, 64 KiB writes: raw TCP client -> app | Bulk/eth0-recv MB/s | Bulk/raw-tcp MB/s | >= 0.5x
lo0 bulk, both ends through the loopback plugin | Bulk/lo0 MB/s | Bulk/raw-tcp MB/s | >= 0.35x
CPU per GB, eth0 send, host + plugin | Bulk/eth0-send cpu-s/GB | Bulk/raw-tcp cpu-s/GB | <= 2.5x
CPU per GB, eth0 receive, host + plugin | Bulk/eth0-recv cpu-s/GB | Bulk/raw-tcp cpu-s/GB | <= 2.5x
64-byte echo on eth0 vs floor (Unix RT + TCP RT between processes) | Echo64/eth0 ns/op | Echo64/floor-unix ns/op + Echo64/floor-tcp ns/op | <= 1.3x
64-byte echo on eth0, p99 vs raw TCP in process | Echo64/eth0 p99-ns | Echo64/raw-tcp-inprocess p99-ns | <= 8x
one 64-byte Send through the boundary (null driver) | Transport/send-64B ns/op | - | <= 10000
16 sockets in parallel, eth0 send, aggregate | Bulk16/eth0-send MB/s | Bulk16/raw-tcp MB/s | >= 0.45x
connect + close on eth0 | ConnectClose/eth0 conns/s | ConnectClose/raw-tcp conns/s | >= 0.4x
heap per closed socket, lo0 (a cycle: 2 sockets; target 0) | HeapPerClosedSocket/lo0 heap-B/cycle | - | <= 40
EOF

"$work/benchtable" -spec "$work/spec.txt" $all <"$out"
