package sdk

import "net/netip"

// Events is how a driver tells the host what happened on its sockets. The
// host implements it; the driver calls it.
//
// Ordering (design rule 2): for one socket the driver calls these methods one
// at a time, never concurrently, in this order: Accepted (for an accepted
// socket) before anything else, then Received calls in byte order, then at
// most one Finished (the peer's FIN, drivers that CanHalfClose only), then
// at most one Dropped, and nothing after Dropped. After a local CloseSocket no
// new event of that socket starts (one already running may finish; the host
// ignores what arrives for a socket it closed).
//
// Events of a socket made by Connect or Listen may be raised before that
// call returned (a reader that starts at once): the host holds them until
// it knows the socket. Calls for different sockets may run concurrently, and
// a driver must not make one socket's events wait for another's: a slow
// handler on one socket holds back only that socket's peer (rule 6).
type Events interface {
	// Accepted announces sock, accepted by listener from peer. The new
	// socket inherits the listener's user value and handlers (rule 4).
	Accepted(listener, sock Socket, peer netip.AddrPort)

	// Received delivers data that arrived on sock, never empty. It is flow
	// control: it
	// blocks while the host's receive window for sock is full, and so must
	// be called from a goroutine that may wait for sock alone (a reader per
	// socket, or a queue per socket in front of a shared reader). It takes
	// ownership of data: the driver must not touch data after the call.
	//
	// It returns an error (ErrClosed) when the host no longer wants data for
	// sock, because it was closed locally or the driver is closing: the
	// driver then stops reading that socket, which keeps its slot until the
	// host closes it. The host guarantees that a
	// blocked Received returns once CloseSocket(sock) or Close is called, so
	// a driver's Close may wait for its readers (within its ctx).
	Received(sock Socket, data []byte) error

	// Finished reports the peer's orderly end of sending (TCP FIN) after the
	// last byte it sent was Received (rule 11). No Received follows it. sock
	// stays open and writable until the host closes it (or a Dropped comes,
	// when the connection then breaks). Only a driver whose Info says
	// CanHalfClose raises it; the others raise Dropped(ErrPeerClosed).
	Finished(sock Socket)

	// Dropped reports that sock is gone for a reason other than a local
	// close (rule 3): ErrPeerClosed for an orderly close by the peer,
	// ErrReset, ErrOverflow, ErrDevice, ErrDriverExited... It is the last
	// event of sock. A listener may be dropped too (the device reset).
	Dropped(sock Socket, reason error)
}
