//go:build !linux

package emulator

import (
	"errors"
	"io"
)

// PTY is a pseudo-terminal pair; only Linux is supported.
type PTY struct{}

var errNoPTY = errors.New("emulator: pseudo-terminals are only supported on linux")

// OpenPTY fails on this platform.
func OpenPTY() (*PTY, error) { return nil, errNoPTY }

// Path returns "".
func (p *PTY) Path() string { return "" }

// Master returns nil.
func (p *PTY) Master() io.ReadWriteCloser { return nil }

// Close does nothing.
func (p *PTY) Close() error { return nil }
