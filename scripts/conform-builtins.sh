#!/usr/bin/env bash
# conform-builtins.sh runs `host conform` on every built-in driver: lo0,
# eth0, and wl0 on the ESP8266 emulator (`host sim esp8266`, both firmware
# dialects), and fails when any MUST case fails. CI runs it; run it from
# anywhere in a clone to see the tables.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$(mktemp -d)"
sims=()
cleanup() {
  for pid in "${sims[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
cd "$root"
go build -o "$dir/host" ./cmd/host

for iface in lo0 eth0; do
  echo "== host conform $iface"
  "$dir/host" conform "$iface"
done

baud=4608000
for fw in 1.7 2.2; do
  echo "== host conform wl0 (emulated ESP8266, firmware $fw, $baud baud)"
  fifo="$dir/sim-$fw"
  mkfifo "$fifo"
  "$dir/host" sim esp8266 --firmware "$fw" --baud "$baud" --joined >"$fifo" 2>"$dir/sim-$fw.log" &
  sims+=("$!")
  exec 3<"$fifo"
  read -r pty <&3
  "$dir/host" --iface "wl0=esp8266,port=$pty,baud=$baud,timeout=5s" conform --timeout 10m wl0
  exec 3<&-
done
