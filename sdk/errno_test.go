package sdk_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/ifsock/ifsock/sdk"
)

// TestErrnoMatch checks that the vocabulary matches the errnos Go code
// checks, made in process with Errorf and rebuilt from the wire with
// FromCode, and that CodeOf maps a bare errno to its code.
func TestErrnoMatch(t *testing.T) {
	cases := []struct {
		kind   error
		errnos []syscall.Errno
	}{
		{sdk.ErrRefused, []syscall.Errno{syscall.ECONNREFUSED}},
		{sdk.ErrReset, []syscall.Errno{syscall.ECONNRESET, syscall.EPIPE}},
		{sdk.ErrUnreachable, []syscall.Errno{syscall.EHOSTUNREACH, syscall.ENETUNREACH}},
		{sdk.ErrTimeout, []syscall.Errno{syscall.ETIMEDOUT}},
		{sdk.ErrAddressInUse, []syscall.Errno{syscall.EADDRINUSE}},
	}
	for _, c := range cases {
		local := sdk.Errorf(c.kind, "connect 127.0.0.1:1")
		wire := sdk.FromCode(sdk.CodeOf(local), local.Error())
		for _, err := range []error{c.kind, local, wire} {
			if !errors.Is(err, c.kind) {
				t.Errorf("%v does not match its sentinel", err)
			}
			for _, e := range c.errnos {
				if !errors.Is(err, e) {
					t.Errorf("%q does not match %v (%d)", err, e, int(e))
				}
			}
		}
		for _, e := range c.errnos {
			if got, want := sdk.CodeOf(e), sdk.CodeOf(c.kind); got != want {
				t.Errorf("CodeOf(%v) = %q, want %q", e, got, want)
			}
		}
	}
	if !errors.Is(sdk.ErrTimeout, os.ErrDeadlineExceeded) || !errors.Is(sdk.ErrTimeout, context.DeadlineExceeded) {
		t.Error("ErrTimeout no longer matches the deadline errors")
	}
	if errors.Is(sdk.ErrRefused, syscall.ECONNRESET) || errors.Is(sdk.ErrClosed, syscall.EPIPE) {
		t.Error("a sentinel matches an errno of another kind")
	}
}

// TestErrorfSaysAdviceOnce wraps errors of the vocabulary and fails when the
// sentinel's text shows twice.
func TestErrorfSaysAdviceOnce(t *testing.T) {
	inner := sdk.Errorf(sdk.ErrBadArgument, "unknown driver %q", "x")
	outer := sdk.Errorf(sdk.ErrBadArgument, "interface x0: %w", inner)
	want := `interface x0: unknown driver "x": bad argument: fix the call`
	if outer.Error() != want {
		t.Errorf("got  %q\nwant %q", outer, want)
	}
	if !errors.Is(outer, sdk.ErrBadArgument) {
		t.Error("lost its kind")
	}
	wired := sdk.Errorf(sdk.ErrRefused, "dial: %w", sdk.FromCode(sdk.CodeRefused, "connect x: "+sdk.ErrRefused.Error()))
	if got, want := wired.Error(), "dial: connect x: "+sdk.ErrRefused.Error(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
