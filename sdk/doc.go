// Package sdk is the contract a network interface driver implements, the Go
// form of the Dooba socket library's struct socket_iface, as
// database/sql/driver is to database/sql: a driver author reads this
// package; applications use package core.
//
// # The contract
//
// A driver implements [Driver]: Open with its [Settings] and the host's
// [Events], then Connect, Listen, Send, CloseWrite, Peer, Local and
// CloseSocket on the sockets it allocates ([Socket] ids), then Close. It
// reports what it can do in [Info] (capabilities travel as data, since a
// type assertion cannot see through the plugin boundary). It raises events
// on the [Events] it was given: Accepted, Received (which blocks: flow
// control), Finished and Dropped, in order and one at a time per socket.
//
// The rules every driver keeps, which the conformance suite in
// github.com/ifsock/ifsock/sdk/sdktest checks, in process and through a plugin process:
//
//   - sockets belong to the driver: it allocates them, reports its limit
//     (Info.MaxSockets) and answers beyond it with [ErrNoSockets], never a
//     hang;
//   - per socket, events come in order: Accepted, data in byte order, at
//     most one Dropped, nothing after it; a local CloseSocket raises none;
//   - Send returns once every byte is taken; concurrent Sends of a socket
//     do not interleave;
//   - addresses are IP and port ([netip.AddrPort]); Listen on port 0 picks
//     a free port, and Local reports it (the suite does not check this one
//     yet: core's tests do, for the loopback and the host network);
//   - every method takes a context and returns when it ends;
//   - a driver never writes to stdout (in a plugin it carries the
//     handshake): it logs through OpenRequest.Logger.
//
// # Errors
//
// Errors are a closed vocabulary: the sentinels [ErrRefused],
// [ErrUnreachable], [ErrClosed], [ErrReset], [ErrTimeout] and the others.
// A driver returns them with detail through [Errorf], whose text is the
// detail, then the sentinel's own text (what happened, what to do), each
// said once:
//
//	return sdk.Errorf(sdk.ErrRefused, "connect %s:%d", host, port)
//	// connect 10.0.0.2:80: connection refused: check that something listens on that host and port
//
// Errors cross the plugin boundary as a [Code] and a text, and [FromCode]
// is the one place that turns them back into sentinels, so errors.Is works
// in the application whatever side made the error. The sentinels that have
// an errno in package syscall also match it (ErrRefused matches
// syscall.ECONNREFUSED, ErrReset ECONNRESET and EPIPE, ErrUnreachable
// EHOSTUNREACH and ENETUNREACH, ErrTimeout ETIMEDOUT, ErrAddressInUse
// EADDRINUSE), and ErrTimeout matches os.ErrDeadlineExceeded and
// context.DeadlineExceeded, as Go code written for package net expects.
//
// # Serving a driver
//
// A plugin's main is one call, sdkplugin.Serve(driver) (package github.com/ifsock/ifsock/sdk/sdkplugin), which
// hides go-plugin, the handshake and the data path. A driver that is also
// an importable package can be compiled into a host as a built-in
// (core.Builtins).
package sdk
