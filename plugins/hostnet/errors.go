package hostnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/ifsock/ifsock/sdk"
)

// mapConnectError turns the error of a dial to addr (host:port as the caller
// wrote it) into the sdk vocabulary, keeping err as the cause.
func mapConnectError(ctx context.Context, addr string, err error) error {
	var dnsErr *net.DNSError
	switch {
	case ctx.Err() == context.Canceled || errors.Is(err, context.Canceled):
		return osErr(sdk.ErrCanceled, err, "connect %s", addr)
	case errors.As(err, &dnsErr) && !dnsErr.IsTimeout:
		return osErr(sdk.ErrNameNotResolved, err, "connect %s", addr)
	case isTimeout(ctx, err):
		return osErr(sdk.ErrTimeout, err, "connect %s: no answer in time", addr)
	case errors.Is(err, syscall.ECONNREFUSED):
		return osErr(sdk.ErrRefused, err, "connect %s", addr)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EHOSTDOWN), errors.Is(err, syscall.ENETDOWN),
		errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EAFNOSUPPORT):
		return osErr(sdk.ErrUnreachable, err, "connect %s", addr)
	case errors.Is(err, syscall.EADDRINUSE):
		return osErr(sdk.ErrAddressInUse, err, "connect %s: no local port left", addr)
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE), errors.Is(err, syscall.ENOBUFS):
		return osErr(sdk.ErrNoSockets, err, "connect %s: the host is out of file descriptors, raise its limit (ulimit -n)", addr)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED):
		return osErr(sdk.ErrReset, err, "connect %s", addr)
	}
	return osErr(sdk.ErrInternal, err, "connect %s", addr)
}

// mapListenError turns the error of a listen on addr into the vocabulary.
func mapListenError(ctx context.Context, addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return osErr(sdk.ErrAddressInUse, err, "listen %s", addr)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return osErr(sdk.ErrBadArgument, err,
			"listen %s: permission denied, use a port above 1023 or grant the plugin CAP_NET_BIND_SERVICE", addr)
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EAFNOSUPPORT):
		return osErr(sdk.ErrBadArgument, err,
			"listen %s: the bind address is not one of this host's, fix the bind setting", addr)
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE), errors.Is(err, syscall.ENOBUFS):
		return osErr(sdk.ErrNoSockets, err, "listen %s: the host is out of file descriptors, raise its limit (ulimit -n)", addr)
	case ctx.Err() == context.Canceled:
		return osErr(sdk.ErrCanceled, err, "listen %s", addr)
	case isTimeout(ctx, err):
		return osErr(sdk.ErrTimeout, err, "listen %s", addr)
	}
	return osErr(sdk.ErrInternal, err, "listen %s", addr)
}

// mapSendError turns a write error on s into the vocabulary. closed reports
// whether s was closed locally (or by Close) meanwhile.
func mapSendError(ctx context.Context, s sdk.Socket, closed bool, err error) error {
	switch {
	case closed || errors.Is(err, net.ErrClosed):
		return osErr(sdk.ErrClosed, err, "send on %s", s)
	case ctx.Err() == context.Canceled:
		return sdk.Errorf(sdk.ErrCanceled,
			"send on %s: some bytes may have been sent, close the socket: %w", s, context.Canceled)
	case isTimeout(ctx, err):
		return osErr(sdk.ErrTimeout, err,
			"send on %s: the peer does not read fast enough, some bytes may have been sent, close the socket", s)
	}
	return dropReason(err, "send on "+s.String())
}

// mapWaitError maps the end of ctx while op (such as "send on") waited for
// its turn on s.
func mapWaitError(ctx context.Context, op string, s sdk.Socket, err error) error {
	if ctx.Err() == context.Canceled || errors.Is(err, context.Canceled) {
		return sdk.Errorf(sdk.ErrCanceled, "%s %s: %w", op, s, context.Canceled)
	}
	return osErr(sdk.ErrTimeout, err,
		"%s %s: not started, its turn did not come in time (an earlier send may be held by a peer that does not read)", op, s)
}

// dropReason maps the error that ended a socket (a read or write error) to a
// drop reason of the vocabulary.
func dropReason(err error, what string) error {
	switch {
	case errors.Is(err, io.EOF):
		return sdk.ErrPeerClosed
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return osErr(sdk.ErrReset, err, "%s", what)
	case errors.Is(err, syscall.ETIMEDOUT):
		return osErr(sdk.ErrTimeout, err, "%s: the peer stopped answering (keep-alive or retransmission timeout)", what)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EHOSTDOWN), errors.Is(err, syscall.ENETDOWN):
		return osErr(sdk.ErrUnreachable, err, "%s", what)
	}
	return osErr(sdk.ErrReset, err, "%s", what)
}

func isTimeout(ctx context.Context, err error) bool {
	if ctx.Err() == context.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// osErr makes an error of kind caused by err, an error of the host's network
// stack: its text is the detail, what the OS said (the errno's text, without
// the address net repeats; left out when the sentinel says the same), then
// the sentinel's advice, each once. err stays the cause, so the error
// matches its errno with errors.Is too.
func osErr(kind, err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	first, _, _ := strings.Cut(kind.Error(), ":")
	if t := osText(err); t != "" && !strings.HasPrefix(t, first) && !strings.HasPrefix(first, t) {
		msg += ": " + t
	}
	return &sdk.Error{Kind: kind, Msg: msg + ": " + kind.Error(), Cause: err}
}

// osText is what the OS said in err: the errno's text, or the innermost
// *net.OpError's error, without the operation and addresses net adds.
func osText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}
