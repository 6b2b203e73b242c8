package delaynet

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/ifsock/ifsock/sdk"
)

// guide:errors

// dialError maps the error of a dial to addr into the sdk vocabulary,
// keeping err as the cause (so errors.Is matches its errno as well).
func dialError(ctx context.Context, addr string, err error) error {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return sdk.Errorf(sdk.ErrCanceled, "connect %s: %w", addr, err)
	case errors.As(err, &dnsErr) && !dnsErr.IsTimeout:
		return sdk.Errorf(sdk.ErrNameNotResolved, "connect %s: %w", addr, err)
	case isTimeout(err):
		return sdk.Errorf(sdk.ErrTimeout, "connect %s: %w", addr, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return sdk.Errorf(sdk.ErrRefused, "connect %s: %w", addr, err)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EAFNOSUPPORT):
		return sdk.Errorf(sdk.ErrUnreachable, "connect %s: %w", addr, err)
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return sdk.Errorf(sdk.ErrNoSockets, "connect %s: the host is out of file descriptors: %w", addr, err)
	}
	return sdk.Errorf(sdk.ErrInternal, "connect %s: %w", addr, err)
}

// guide:end

// listenError maps the error of a listen on addr into the vocabulary.
func listenError(ctx context.Context, addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return sdk.Errorf(sdk.ErrAddressInUse, "listen %s: %w", addr, err)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EADDRNOTAVAIL):
		return sdk.Errorf(sdk.ErrBadArgument, "listen %s: use a port above 1023 and an address of this host (the bind setting): %w", addr, err)
	case errors.Is(ctx.Err(), context.Canceled):
		return sdk.Errorf(sdk.ErrCanceled, "listen %s: %w", addr, err)
	case isTimeout(err):
		return sdk.Errorf(sdk.ErrTimeout, "listen %s: %w", addr, err)
	}
	return sdk.Errorf(sdk.ErrInternal, "listen %s: %w", addr, err)
}

// dropReason maps the error that broke a connection (what says what) to
// the reason of its Dropped.
func dropReason(err error, what string) error {
	switch {
	case errors.Is(err, io.EOF):
		return sdk.ErrPeerClosed
	case errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, os.ErrDeadlineExceeded):
		return sdk.Errorf(sdk.ErrTimeout, "%s: the peer stopped answering: %w", what, err)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return sdk.Errorf(sdk.ErrUnreachable, "%s: %w", what, err)
	}
	return sdk.Errorf(sdk.ErrReset, "%s: %w", what, err)
}

// ctxError is the error of a wait that ctx ended (err is ctx.Err()).
func ctxError(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return sdk.Errorf(sdk.ErrCanceled, "%s: %w", op, err)
	}
	return sdk.Errorf(sdk.ErrTimeout, "%s: %w", op, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) ||
		(errors.As(err, &ne) && ne.Timeout())
}
