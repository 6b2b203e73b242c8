#!/usr/bin/env bash
# ci.sh checks the example driver as a driver author outside this repository
# would: it vets and tests the example module (with the race detector: the
# conformance suite in process and through a real plugin process), builds
# its plugin binary and the host CLI into a temporary directory, and runs
# `host conform` on the plugin from --plugin-dir. It fails when any step
# fails, and when any MUST case of the suite does not pass.
#
# Run it from anywhere in a clone: examples/delaynet/ci.sh
set -euo pipefail
umask 022 # the host refuses plugins that group or others can write

example="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$example/../.." && pwd)"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT

echo "== example module: build, vet, test"
cd "$example"
go build -o "$dir/delaynet-plugin" ./cmd/delaynet-plugin
go vet ./...
go test -race -count=1 ./...

echo "== host conform on the plugin binary"
cd "$root"
go build -o "$dir/host" ./cmd/host
"$dir/host" --plugin-dir "$dir" --iface x0=delaynet,delay=2ms conform --outside true x0
