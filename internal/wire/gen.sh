#!/usr/bin/env bash
# Regenerates wire.pb.go and wire_grpc.pb.go from wire.proto.
# Installs its own tools: protoc from Debian's packages when missing, and the
# Go code generators at the versions pinned below.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v protoc >/dev/null; then
  apt-get update -qq && apt-get install -y -qq protobuf-compiler
fi
bin="$(go env GOPATH)/bin"
GOFLAGS= go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
GOFLAGS= go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
PATH="$bin:$PATH" protoc --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative wire.proto
