package sdk_test

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/ifsock/ifsock/sdk"
)

// A driver reports an error of the vocabulary with its detail; the text
// says each thing once, even when one error of the vocabulary wraps
// another of the same kind.
func ExampleErrorf() {
	err := sdk.Errorf(sdk.ErrBadArgument, "unknown setting %q: known are baud, port", "bud")
	fmt.Println(err)
	wrapped := sdk.Errorf(sdk.ErrBadArgument, "interface wl0: %w", err)
	fmt.Println(wrapped)
	fmt.Println(errors.Is(wrapped, sdk.ErrBadArgument))
	// Output:
	// unknown setting "bud": known are baud, port: bad argument: fix the call
	// interface wl0: unknown setting "bud": known are baud, port: bad argument: fix the call
	// true
}

// An error that crossed the plugin boundary as a code and a text comes back
// as the same sentinel, and matches the errno Go code checks.
func ExampleFromCode() {
	sent := sdk.Errorf(sdk.ErrRefused, "connect 10.0.0.2:80")
	code, msg := sdk.CodeOf(sent), sent.Error() // what travels
	got := sdk.FromCode(code, msg)
	fmt.Println(code)
	fmt.Println(got)
	fmt.Println(errors.Is(got, sdk.ErrRefused), errors.Is(got, syscall.ECONNREFUSED))
	// Output:
	// refused
	// connect 10.0.0.2:80: connection refused: check that something listens on that host and port
	// true true
}

// A driver validates its arguments the way every driver does: port 0 asks
// Listen for a free port, and is out of range for Connect.
func ExampleCheckListen() {
	fmt.Println(sdk.CheckListen(sdk.ListenRequest{Port: 0}))
	fmt.Println(sdk.CheckListen(sdk.ListenRequest{Port: 70000}))
	fmt.Println(sdk.CheckConnect(sdk.ConnectRequest{Host: "127.0.0.1", Port: 0}))
	// Output:
	// <nil>
	// listen: port 70000 is out of range 0-65535 (0: pick a free port): bad argument: fix the call
	// connect: port 0 is out of range 1-65535: bad argument: fix the call
}
