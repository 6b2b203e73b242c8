// Package delaynet is an example driver of the ifsock socket contract
// (package github.com/ifsock/ifsock/sdk): it serves a network interface over the host's own
// TCP/IP (package net) through a simulated slow link. Every chunk of data
// waits a one-way delay in each direction, and each direction carries at
// most rate bytes per second; a connection between two sockets of the
// driver crosses the link twice each way.
//
// It is written to be read: docs/driver-guide.md in the ifsock repository
// builds it step by step, and each Go block of the guide is a region of
// these files.
//
// # Settings
//
//	delay=0            one-way latency of every chunk (20ms; from 0 to 1m)
//	rate=0             bytes per second in each direction, 0: unlimited
//	bind=127.0.0.1     address listeners bind (::1, 0.0.0.0, ...)
//	max_sockets=64     sockets held at once, listeners included
//
// Unknown settings and bad values fail Open with sdk.ErrBadArgument.
//
// # Contract
//
// The driver keeps the whole contract: events of a socket one at a time and
// in order, raised by one goroutine per socket; flow control in both
// directions through bounded queues (a slow handler holds back its own peer
// alone); TCP's half-close (Info.CanHalfClose); sdk.ErrNoSockets beyond
// max_sockets; errors from the sdk vocabulary. Nothing in it writes to
// stdout: it logs through the logger of sdk.OpenRequest.
package delaynet
