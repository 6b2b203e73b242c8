package sdk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// Code names one error of the vocabulary on the wire. Codes are stable: a
// driver written against an older sdk and a host built with a newer one agree
// on them. The empty Code means "no error".
type Code string

// The codes of the vocabulary, one per sentinel below.
const (
	CodeUnsupported     Code = "unsupported"
	CodeNoSockets       Code = "no_sockets"
	CodeRefused         Code = "refused"
	CodeUnreachable     Code = "unreachable"
	CodeNameNotResolved Code = "name_not_resolved"
	CodeClosed          Code = "closed"
	CodeTimeout         Code = "timeout"
	CodeCanceled        Code = "canceled"
	CodeBadArgument     Code = "bad_argument"
	CodeBusy            Code = "busy"
	CodeAddressInUse    Code = "address_in_use"
	CodePeerClosed      Code = "peer_closed"
	CodeReset           Code = "reset"
	CodeOverflow        Code = "overflow"
	CodeDevice          Code = "device"
	CodeDriverExited    Code = "driver_exited"
	CodeNotOpen         Code = "not_open"
	CodeInternal        Code = "internal"
)

// sentinel is the type of the vocabulary's sentinel errors. Its message is
// lower case and says what to do.
type sentinel struct {
	code Code
	msg  string
}

func (e *sentinel) Error() string { return e.msg }

func newSentinel(code Code, msg string) error { return &sentinel{code: code, msg: msg} }

// The error vocabulary of the contract (design rule 7). Drivers return these,
// or errors made with [Errorf] that wrap them; the host matches them with
// errors.Is, in process and across the plugin boundary alike.
var (
	// ErrUnsupported: the driver or device cannot do this at all (a second
	// listener on an ESP8266, listening on a driver without listen support).
	ErrUnsupported = newSentinel(CodeUnsupported, "not supported by this driver: check the driver's Info capabilities")
	// ErrNoSockets: every socket the driver can hold is in use (rule 1).
	ErrNoSockets = newSentinel(CodeNoSockets, "no sockets left on this interface: close a socket first or raise the driver's socket limit")
	// ErrRefused: the peer actively refused the connection.
	ErrRefused = newSentinel(CodeRefused, "connection refused: check that something listens on that host and port")
	// ErrUnreachable: no route to the peer, or the link itself is down.
	ErrUnreachable = newSentinel(CodeUnreachable, "host unreachable: check the address and the interface's link")
	// ErrNameNotResolved: the host name could not be resolved by the driver.
	ErrNameNotResolved = newSentinel(CodeNameNotResolved, "host name not resolved: check the name, or use an IP address")
	// ErrClosed: the socket (or driver) was closed locally, or was already
	// dropped; it cannot be used any more.
	ErrClosed = newSentinel(CodeClosed, "socket is closed: open a new one")
	// ErrTimeout: the operation did not complete in time. It matches
	// os.ErrDeadlineExceeded and context.DeadlineExceeded with errors.Is.
	ErrTimeout = newSentinel(CodeTimeout, "operation timed out: retry, or allow more time")
	// ErrCanceled: the caller's context was canceled. It matches
	// context.Canceled with errors.Is.
	ErrCanceled = newSentinel(CodeCanceled, "operation canceled by the caller")
	// ErrBadArgument: an argument is out of range or malformed (empty host,
	// port 0 or above 65535, an unknown setting).
	ErrBadArgument = newSentinel(CodeBadArgument, "bad argument: fix the call")
	// ErrBusy: the device is busy; the same call may succeed later.
	ErrBusy = newSentinel(CodeBusy, "device busy: retry later")
	// ErrAddressInUse: the local port is already taken.
	ErrAddressInUse = newSentinel(CodeAddressInUse, "address already in use: pick another port or close the socket using it")
	// ErrPeerClosed: the peer closed the connection in order (a drop reason).
	ErrPeerClosed = newSentinel(CodePeerClosed, "connection closed by the peer")
	// ErrReset: the connection was reset or aborted by the peer or the link
	// (a drop reason, or a send error).
	ErrReset = newSentinel(CodeReset, "connection reset: the peer or the link aborted it; reconnect")
	// ErrOverflow: received data could not be held and the socket was dropped
	// rather than lose bytes silently (a drop reason).
	ErrOverflow = newSentinel(CodeOverflow, "receive buffer overflowed, the socket was dropped: consume data faster or use a device with flow control")
	// ErrDevice: the device misbehaved or answered something the driver could
	// not understand (a module reset, a malformed reply).
	ErrDevice = newSentinel(CodeDevice, "device error: see the driver log; the device may have reset")
	// ErrDriverExited: the driver process died. Its sockets are dropped with
	// this reason; the host starts the driver again, so later calls work.
	ErrDriverExited = newSentinel(CodeDriverExited, "driver exited: its sockets are gone; retry, the driver is being restarted")
	// ErrNotOpen: the driver was used before Open or after Close.
	ErrNotOpen = newSentinel(CodeNotOpen, "driver is not open: open the interface first")
	// ErrInternal: a bug or an error outside the vocabulary.
	ErrInternal = newSentinel(CodeInternal, "internal error: please report it with the driver log")
)

// vocabulary lists the sentinels in the order CodeOf tries them.
var vocabulary = []error{
	ErrUnsupported, ErrNoSockets, ErrRefused, ErrUnreachable, ErrNameNotResolved,
	ErrClosed, ErrTimeout, ErrCanceled, ErrBadArgument, ErrBusy, ErrAddressInUse,
	ErrPeerClosed, ErrReset, ErrOverflow, ErrDevice, ErrDriverExited, ErrNotOpen,
	ErrInternal,
}

// Error is an error of the vocabulary with detail: Kind is one of the
// sentinels, Msg the whole text. errors.Is(err, Kind) holds, and so does
// errors.Is(err, Cause) when Cause is set.
type Error struct {
	Kind  error
	Msg   string
	Cause error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the sentinel and, if any, the cause.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

// Is lets a sentinel match what Go code written for package net checks:
// ErrTimeout matches os.ErrDeadlineExceeded, context.DeadlineExceeded and
// syscall.ETIMEDOUT; ErrCanceled matches context.Canceled; and the
// sentinels with an errno match it (see errnos), in process and across the
// plugin boundary alike.
func (e *sentinel) Is(target error) bool {
	switch e.code {
	case CodeTimeout:
		if target == os.ErrDeadlineExceeded || target == context.DeadlineExceeded {
			return true
		}
	case CodeCanceled:
		return target == context.Canceled
	}
	if errno, ok := target.(syscall.Errno); ok {
		for _, m := range errnos {
			if m.errno == errno && m.code == e.code {
				return true
			}
		}
	}
	return false
}

// errnos pairs the sentinels with the errnos of package syscall that Go
// code checks (net/http, gRPC and database drivers decide on retries with
// them): errors.Is(err, syscall.ECONNREFUSED) holds for an ErrRefused, and
// CodeOf maps an errno a driver returned unwrapped to its code. A write
// after the peer reset the connection is ErrReset, which matches both
// ECONNRESET and EPIPE, as Go's net on Linux gives one or the other.
var errnos = []struct {
	errno syscall.Errno
	code  Code
}{
	{syscall.ECONNREFUSED, CodeRefused},
	{syscall.ECONNRESET, CodeReset},
	{syscall.EPIPE, CodeReset},
	{syscall.ECONNABORTED, CodeReset},
	{syscall.EHOSTUNREACH, CodeUnreachable},
	{syscall.ENETUNREACH, CodeUnreachable},
	{syscall.ETIMEDOUT, CodeTimeout},
	{syscall.EADDRINUSE, CodeAddressInUse},
}

// Timeout reports whether this is ErrTimeout, so that the vocabulary meets
// the net.Error convention.
func (e *sentinel) Timeout() bool { return e.code == CodeTimeout }

// PartialSend is the error of a Send that failed after it committed the
// first N bytes of its data for in-order delivery (the rest were not
// sent): what io.Writer's count means. It unwraps to the error, so it
// matches the same sentinels. A Send that committed nothing returns the
// error itself.
type PartialSend struct {
	N   int
	Err error
}

func (e *PartialSend) Error() string { return e.Err.Error() }

// Unwrap returns the error.
func (e *PartialSend) Unwrap() error { return e.Err }

// Sent returns how many bytes a failed Send committed: the N of a
// PartialSend in err's chain, or 0.
func Sent(err error) int {
	var p *PartialSend
	if errors.As(err, &p) {
		return p.N
	}
	return 0
}

// Errorf returns an error of kind (one of the sentinels) whose text is the
// formatted detail followed by the sentinel's own text (what happened and
// what to do), said once: when the detail already says it (it wraps an
// error of the same kind with %w, or a message that crossed the wire), it
// is not appended again. A %w verb in format is kept as the cause.
func Errorf(kind error, format string, args ...any) error {
	detail := fmt.Errorf(format, args...)
	msg := detail.Error()
	if !strings.Contains(msg, kind.Error()) {
		msg += ": " + kind.Error()
	}
	return &Error{Kind: kind, Msg: msg, Cause: errors.Unwrap(detail)}
}

// CodeOf returns the code of err: the first sentinel of the vocabulary that
// err matches with errors.Is. Context errors map to CodeTimeout and
// CodeCanceled. nil gives "", and anything else CodeInternal.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	for _, s := range vocabulary {
		if errors.Is(err, s) {
			return s.(*sentinel).code
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return CodeTimeout
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		for _, m := range errnos {
			if m.errno == errno {
				return m.code
			}
		}
	}
	return CodeInternal
}

// Sentinel returns the sentinel error of code, and ErrInternal for a code it
// does not know (a newer peer's code).
func (c Code) Sentinel() error {
	for _, s := range vocabulary {
		if s.(*sentinel).code == c {
			return s
		}
	}
	return ErrInternal
}

// FromCode rebuilds an error that crossed the wire as a code and its text.
// It is the one translation point from wire codes back to sentinels: the
// result matches the code's sentinel with errors.Is and prints msg.
func FromCode(code Code, msg string) error {
	if code == "" {
		return nil
	}
	kind := code.Sentinel()
	if msg == "" {
		return kind
	}
	if msg == kind.Error() {
		return kind
	}
	return &Error{Kind: kind, Msg: msg}
}
