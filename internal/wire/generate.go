// Package wire holds the generated gRPC code of the host-plugin protocol
// (wire.proto) and the constants both sides share. Nothing outside this
// module sees these types.
//
// Regenerate with `go generate ./internal/wire` (see gen.sh: it installs
// protoc and the Go plugins it needs at pinned versions).
package wire

//go:generate ./gen.sh
