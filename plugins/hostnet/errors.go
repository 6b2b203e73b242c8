package hostnet

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"ifsock/sdk"
)

// mapConnectError turns the error of a dial to addr (host:port as the caller
// wrote it) into the sdk vocabulary, keeping err as the cause.
func mapConnectError(ctx context.Context, addr string, err error) error {
	var dnsErr *net.DNSError
	switch {
	case ctx.Err() == context.Canceled || errors.Is(err, context.Canceled):
		return sdk.Errorf(sdk.ErrCanceled, "connect %s: %w", addr, err)
	case errors.As(err, &dnsErr) && !dnsErr.IsTimeout:
		return sdk.Errorf(sdk.ErrNameNotResolved, "connect %s: %w", addr, err)
	case isTimeout(ctx, err):
		return sdk.Errorf(sdk.ErrTimeout, "connect %s: no answer in time: %w", addr, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return sdk.Errorf(sdk.ErrRefused, "connect %s: %w", addr, err)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EHOSTDOWN), errors.Is(err, syscall.ENETDOWN),
		errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EAFNOSUPPORT):
		return sdk.Errorf(sdk.ErrUnreachable, "connect %s: %w", addr, err)
	case errors.Is(err, syscall.EADDRINUSE):
		return sdk.Errorf(sdk.ErrAddressInUse, "connect %s: no local port left: %w", addr, err)
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE), errors.Is(err, syscall.ENOBUFS):
		return sdk.Errorf(sdk.ErrNoSockets, "connect %s: the host is out of file descriptors, raise its limit (ulimit -n): %w", addr, err)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED):
		return sdk.Errorf(sdk.ErrReset, "connect %s: %w", addr, err)
	}
	return sdk.Errorf(sdk.ErrInternal, "connect %s: %w", addr, err)
}

// mapListenError turns the error of a listen on addr into the vocabulary.
func mapListenError(ctx context.Context, addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return sdk.Errorf(sdk.ErrAddressInUse, "listen %s: %w", addr, err)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return sdk.Errorf(sdk.ErrBadArgument,
			"listen %s: permission denied, use a port above 1023 or grant the plugin CAP_NET_BIND_SERVICE: %w", addr, err)
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EAFNOSUPPORT):
		return sdk.Errorf(sdk.ErrBadArgument,
			"listen %s: the bind address is not one of this host's, fix the bind setting: %w", addr, err)
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE), errors.Is(err, syscall.ENOBUFS):
		return sdk.Errorf(sdk.ErrNoSockets, "listen %s: the host is out of file descriptors, raise its limit (ulimit -n): %w", addr, err)
	case ctx.Err() == context.Canceled:
		return sdk.Errorf(sdk.ErrCanceled, "listen %s: %w", addr, err)
	case isTimeout(ctx, err):
		return sdk.Errorf(sdk.ErrTimeout, "listen %s: %w", addr, err)
	}
	return sdk.Errorf(sdk.ErrInternal, "listen %s: %w", addr, err)
}

// mapSendError turns a write error on s into the vocabulary. closed reports
// whether s was closed locally (or by Close) meanwhile.
func mapSendError(ctx context.Context, s sdk.Socket, closed bool, err error) error {
	switch {
	case closed || errors.Is(err, net.ErrClosed):
		return sdk.Errorf(sdk.ErrClosed, "send on %s: %w", s, err)
	case ctx.Err() == context.Canceled:
		return sdk.Errorf(sdk.ErrCanceled,
			"send on %s: some bytes may have been sent, close the socket: %w", s, context.Canceled)
	case isTimeout(ctx, err):
		return sdk.Errorf(sdk.ErrTimeout,
			"send on %s: the peer does not read fast enough, some bytes may have been sent, close the socket: %w", s, err)
	}
	return dropReason(err, "send on "+s.String())
}

// mapWaitError maps the end of ctx while op (such as "send on") waited for
// its turn on s.
func mapWaitError(ctx context.Context, op string, s sdk.Socket, err error) error {
	if ctx.Err() == context.Canceled || errors.Is(err, context.Canceled) {
		return sdk.Errorf(sdk.ErrCanceled, "%s %s: %w", op, s, context.Canceled)
	}
	return sdk.Errorf(sdk.ErrTimeout,
		"%s %s: not started, its turn did not come in time (an earlier send may be held by a peer that does not read): %w", op, s, err)
}

// dropReason maps the error that ended a socket (a read or write error) to a
// drop reason of the vocabulary.
func dropReason(err error, what string) error {
	switch {
	case errors.Is(err, io.EOF):
		return sdk.ErrPeerClosed
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return sdk.Errorf(sdk.ErrReset, "%s: %w", what, err)
	case errors.Is(err, syscall.ETIMEDOUT):
		return sdk.Errorf(sdk.ErrTimeout, "%s: the peer stopped answering (keep-alive or retransmission timeout): %w", what, err)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EHOSTDOWN), errors.Is(err, syscall.ENETDOWN):
		return sdk.Errorf(sdk.ErrUnreachable, "%s: %w", what, err)
	}
	return sdk.Errorf(sdk.ErrReset, "%s: %w", what, err)
}

func isTimeout(ctx context.Context, err error) bool {
	if ctx.Err() == context.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
