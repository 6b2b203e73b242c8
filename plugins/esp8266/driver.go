package esp8266

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/sdk"
)

const driverName = "esp8266"

// Version is the version of this driver, reported in [sdk.Info].
const Version = "0.1.0"

// MaxWrite is the most one AT+CIPSEND takes; Send splits larger data.
const MaxWrite = 2048

// Driver is the esp8266 driver: the [sdk.Driver] contract over an ESP8266
// module running Espressif's AT firmware (NonOS AT 1.x or ESP-AT 2.x),
// reached through a serial port.
//
// Ownership: the Driver owns the port, every socket and every goroutine it
// starts (the reader, the command runner, the passive-mode fetch pump and
// one deliverer per socket); Close stops all of them and closes the port.
//
// Concurrency: every method may be called from any goroutine, concurrently,
// and from inside the Events callbacks the Driver is running. Commands to
// the module run one at a time, in the order they were asked for. A Driver
// made by New may be opened again after Close; one made by NewOnPort only
// once (Close closes its port). Socket ids are never reused by one Driver.
type Driver struct {
	mu       sync.Mutex
	sess     *session
	opening  bool
	closeReq bool               // Close was called while Open was bringing the module up
	injected io.ReadWriteCloser // NewOnPort's port, until an Open takes it
	usedPort bool
	ids      atomic.Uint64
}

// New returns a Driver that opens the serial device named by the port
// setting (go.bug.st/serial) at Open.
func New() *Driver { return &Driver{} }

// NewOnPort returns a Driver that talks to the module through rwc instead of
// opening a serial device: for tests (a scripted modem, the emulator) and
// for callers that open the port themselves. The port setting is then not
// required, and Close closes rwc. Close must unblock a pending Read of rwc.
func NewOnPort(rwc io.ReadWriteCloser) *Driver { return &Driver{injected: rwc} }

var _ sdk.Driver = (*Driver)(nil)

// Open validates the settings, opens the port and brings the module up (see
// the package documentation). It fails with ErrBadArgument for a bad or
// unknown setting, ErrBusy when the driver is open already, ErrDevice when
// the module does not answer or answers nonsense, ErrUnreachable when the
// WiFi join fails, and ErrTimeout or ErrCanceled when ctx ends first.
func (d *Driver) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Info, error) {
	d.mu.Lock()
	injected := d.injected != nil || d.usedPort
	d.mu.Unlock()
	cfg, err := parseSettings(req.Settings, injected)
	if err != nil {
		return sdk.Info{}, err
	}
	if req.Events == nil {
		return sdk.Info{}, sdk.Errorf(sdk.ErrBadArgument, "open %s: no Events to report to, pass the host's Events", driverName)
	}
	log := req.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	log = log.With("driver", driverName)

	d.mu.Lock()
	if d.sess != nil || d.opening {
		d.mu.Unlock()
		return sdk.Info{}, sdk.Errorf(sdk.ErrBusy, "open %s: the driver is already open, close it first", driverName)
	}
	if d.usedPort && d.injected == nil {
		d.mu.Unlock()
		return sdk.Info{}, sdk.Errorf(sdk.ErrNotOpen, "open %s: the port given to NewOnPort was closed by Close; make a new Driver", driverName)
	}
	port := d.injected
	d.injected, d.usedPort = nil, port != nil || d.usedPort
	d.opening = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.opening, d.closeReq = false, false
		d.mu.Unlock()
	}()

	if port == nil {
		if port, err = openSerial(cfg.port, cfg.baud); err != nil {
			return sdk.Info{}, err
		}
	}
	log.Debug("open", "interface", req.Interface, "settings", req.Settings.Redacted())
	s := newSession(cfg, req.Events, log, port, &d.ids)
	select {
	case err = <-s.ready:
	case <-ctx.Done():
		err = ctxError(ctx, "open "+driverName+": bringing the module up")
	}
	if err != nil {
		s.shutdown(context.Background(), false)
		return sdk.Info{}, err
	}
	s.mu.Lock()
	device := s.device
	s.mu.Unlock()
	d.mu.Lock()
	if d.closeReq {
		d.closeReq = false
		d.mu.Unlock()
		s.shutdown(ctx, true)
		return sdk.Info{}, sdk.Errorf(sdk.ErrNotOpen, "open %s: Close was called meanwhile", driverName)
	}
	d.sess = s
	d.mu.Unlock()
	return sdk.Info{
		Name:         driverName,
		Version:      Version,
		Device:       device,
		CanListen:    true,
		MaxListeners: 1,
		// The module's server takes no link: one listener and five
		// connections (AT+CIPSERVERMAXCONN's default).
		MaxSockets:     maxConns + 1,
		MaxConnections: maxConns,
		MaxWrite:       MaxWrite,
		// No send window: a Send returns once the module answered SEND OK,
		// so a write the module fails reaches the Send that wrote it.
		SendWindow:   -1,
		CanHalfClose: false, // AT+CIPCLOSE closes both ways; see CloseWrite
	}, nil
}

// session returns the open session, or ErrNotOpen.
func (d *Driver) session(op string) (*session, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sess == nil {
		return nil, sdk.Errorf(sdk.ErrNotOpen, "%s", op)
	}
	return d.sess, nil
}

// lookup returns the open socket id, or ErrClosed.
func (s *session) lookup(op string, id sdk.Socket) (*socket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sk := s.sockets[id]
	if sk == nil || sk.gone {
		return nil, sdk.Errorf(sdk.ErrClosed, "%s: %s is not open", op, id)
	}
	return sk, nil
}

// Connect opens a TCP connection from the module to req.Host:req.Port. A
// host name is resolved by the module (AT+CIPDOMAIN); an IPv6 address is
// ErrUnsupported (the module's AT firmware speaks IPv4). Errors:
// ErrBadArgument, ErrNoSockets (all five links in use), ErrNameNotResolved,
// ErrRefused (the module could not connect: refused, unreachable or timed
// out, which it does not tell apart), ErrUnreachable (the module has no IP
// address), ErrTimeout, ErrCanceled, ErrDevice.
func (d *Driver) Connect(ctx context.Context, req sdk.ConnectRequest) (sdk.Socket, error) {
	if err := sdk.CheckConnect(req); err != nil {
		return 0, err
	}
	s, err := d.session("connect")
	if err != nil {
		return 0, err
	}
	host := strings.TrimSuffix(strings.TrimPrefix(req.Host, "["), "]")
	addr := fmt.Sprintf("%s:%d", host, req.Port)
	if strings.ContainsAny(host, "\",\\ \r\n\t\x00") {
		return 0, sdk.Errorf(sdk.ErrBadArgument, "connect %s: the host has a character the AT firmware cannot take", addr)
	}
	if err := ctx.Err(); err != nil {
		return 0, ctxError(ctx, "connect "+addr)
	}
	if err := s.room(addr, netip.Addr{}, req.Port); err != nil {
		return 0, err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if ip, err = s.resolve(ctx, host); err != nil {
			return 0, err
		}
	}
	ip = ip.Unmap()
	if !ip.Is4() {
		return 0, sdk.Errorf(sdk.ErrUnsupported, "connect %s: the ESP8266 AT firmware connects to IPv4 addresses only", addr)
	}
	peer := netip.AddrPortFrom(ip, uint16(req.Port))
	for attempt := 0; ; attempt++ {
		sk := s.newSocket(-1)
		sk.peer = peer
		close(sk.peerReady)
		var id int
		var self bool
		var incoming uint64
		rep, err := s.do(ctx, &request{
			timeout: s.connectTimeout(),
			prepare: func() (string, error) {
				if err := s.room(addr, ip, req.Port); err != nil {
					return "", err
				}
				s.mu.Lock()
				defer s.mu.Unlock()
				self, incoming = s.isSelf(ip, req.Port), s.incoming
				id = s.pickLink()
				s.used++
				sk.link = id
				s.links[id] = link{state: linkConnecting, sock: sk}
				return fmt.Sprintf(`AT+CIPSTART=%d,"TCP","%s",%d`, id, ip, req.Port), nil
			},
			then: func(rep *reply) { s.connected(sk, addr, rep) },
			cleanup: func(rep *reply) {
				if rep.err != nil {
					return
				}
				// Connected, but the caller is gone: nobody owns it.
				s.mu.Lock()
				s.closeLocal(sk)
				s.links[sk.link] = link{state: linkClosing}
				s.mu.Unlock()
				s.exec(&request{line: fmt.Sprintf("AT+CIPCLOSE=%d", sk.link), timeout: s.cfg.timeout})
				s.mu.Lock()
				if s.links[sk.link].state == linkClosing {
					s.links[sk.link] = link{}
				}
				s.mu.Unlock()
			},
		})
		if rep.retry && attempt < numLinks {
			continue
		}
		if err != nil {
			return 0, err
		}
		if rep.retry {
			return 0, sdk.Errorf(sdk.ErrBusy, "connect %s: the module's links are taken: retry", addr)
		}
		s.mu.Lock()
		s.start(sk)
		s.mu.Unlock()
		s.log.Debug("connected", "socket", sk.id, "link", sk.link, "peer", peer)
		if self {
			s.awaitIncoming(ctx, incoming)
		}
		return sk.id, nil
	}
}

// isSelf reports whether a connect to ip:port reaches the module's own
// server: its accepted twin then needs a socket and a link too. Called with
// s.mu held.
func (s *session) isSelf(ip netip.Addr, port int) bool {
	return s.listener != nil && s.listener.port == port && ip.IsValid() &&
		(ip.IsLoopback() || ip == s.stationIP || ip.IsUnspecified())
}

// room fails with ErrNoSockets when a connect to ip:port would not fit: one
// socket and one link, two of each when the module connects to its own
// server (the accepted twin takes the second).
func (s *session) room(addr string, ip netip.Addr, port int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	need := 1
	if s.isSelf(ip, port) {
		need = 2
	}
	free := 0
	for i := range s.links {
		if st := s.links[i].state; st == linkFree || st == linkFailed {
			free++
		}
	}
	switch {
	case s.used+need > maxConns:
		return sdk.Errorf(sdk.ErrNoSockets, "connect %s: all %d of the module's connections are in use: close one first", addr, maxConns)
	case free < need:
		return sdk.Errorf(sdk.ErrNoSockets, "connect %s: no free link on the module (links are still closing): retry", addr)
	}
	return nil
}

// awaitIncoming waits (a moment at most) for the module to announce the
// incoming side of a connection to its own server, so that the pair's
// sockets are both counted when Connect returns.
func (s *session) awaitIncoming(ctx context.Context, before uint64) {
	t := time.NewTimer(s.cfg.timeout)
	defer t.Stop()
	for {
		s.mu.Lock()
		n, ch := s.incoming, s.incomingCh
		s.mu.Unlock()
		if n > before {
			return
		}
		select {
		case <-ch:
		case <-t.C:
			s.log.Warn("the module did not announce its own incoming connection", "timeout", s.cfg.timeout)
			return
		case <-ctx.Done():
			return
		case <-s.ctx.Done():
			return
		}
	}
}

// pickLink chooses a link for a connect: a free one, the lowest, or the
// highest while a listener is open, since the module gives incoming
// connections the lowest free link. Called with s.mu held.
func (s *session) pickLink() int {
	for i := 0; i < numLinks; i++ {
		id := i
		if s.listener != nil {
			id = numLinks - 1 - i
		}
		// A failed link is as good as a free one: its stray CLOSED, if
		// any, left the module before the answer to our next command, and
		// a CLOSED before CONNECT is ignored while connecting.
		if st := s.links[id].state; st == linkFree || st == linkFailed {
			return id
		}
	}
	return -1
}

// connected settles a CIPSTART (in the runner, whether or not the caller
// still waits): the link and the socket's state, and the error.
func (s *session) connected(sk *socket, addr string, rep *reply) {
	if stale := s.settleConnect(sk, addr, rep); stale >= 0 {
		// A link the driver does not know is open on the module: close it
		// now, before the connect is tried again on another link.
		s.exec(&request{line: fmt.Sprintf("AT+CIPCLOSE=%d", stale), timeout: s.cfg.timeout})
		s.mu.Lock()
		if s.links[stale].state == linkClosing {
			s.links[stale] = link{}
		}
		s.mu.Unlock()
	}
}

// settleConnect does the work of connected under s.mu; it returns a link to
// close, or -1.
func (s *session) settleConnect(sk *socket, addr string, rep *reply) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sk.link < 0 {
		return -1 // prepare refused: nothing was reserved
	}
	id := sk.link
	l := &s.links[id]
	if l.sock != sk {
		// The module reset meanwhile (dropAll forgot the link).
		s.used--
		if rep.err == nil {
			rep.err = errModuleReset
		}
		return -1
	}
	if rep.err != nil {
		s.used--
		if errors.Is(rep.err, sdk.ErrTimeout) {
			// It may connect later still: make sure it does not stay.
			s.closeLinkAsync(id)
			rep.err = sdk.Errorf(sdk.ErrTimeout, "connect %s: the module did not finish connecting within %v", addr, s.connectTimeout())
		} else {
			s.links[id] = link{}
		}
		return -1
	}
	if rep.final == tokOK {
		l.state = linkOpen
		s.sockets[sk.id] = sk
		if l.closedAfter {
			// Closed as it connected: in passive mode its data may still
			// wait in the module (onClosed reads it first).
			s.onClosed(id)
		}
		return -1
	}
	s.used--
	_, already := rep.hasLine("ALREADY CONNECTED")
	switch {
	case l.connected:
		// "<id>,CONNECT" then ERROR: that CONNECT was an incoming
		// connection the module put on this link as our CIPSTART came.
		s.links[id] = link{}
		s.accept(id, netip.AddrPort{})
		rep.retry = true
	case already:
		s.links[id] = link{state: linkClosing}
		rep.retry = true
		return id
	default:
		s.links[id] = link{state: linkFailed}
		rep.err = cipstartError(addr, rep)
	}
	return -1
}

// cipstartError maps a failed AT+CIPSTART onto the vocabulary. 1.x says why
// on the AT port; 2.x only answers ERROR (its reasons go to the console
// UART), so a bare ERROR to an IP address is a refusal.
func cipstartError(addr string, rep *reply) error {
	for _, l := range rep.lines {
		switch {
		case strings.HasPrefix(l, "DNS Fail"):
			return sdk.Errorf(sdk.ErrNameNotResolved, "connect %s: the module could not resolve the name", addr)
		case strings.HasPrefix(l, "no ip"):
			return sdk.Errorf(sdk.ErrUnreachable, "connect %s: the module has no IP address: check its WiFi network (ssid, password)", addr)
		case strings.HasPrefix(l, "link is not valid"), strings.HasPrefix(l, "ID ERROR"),
			strings.HasPrefix(l, "IP ERROR"), strings.HasPrefix(l, "ENTRY ERROR"),
			strings.HasPrefix(l, "Miss param"), strings.HasPrefix(l, "Link type ERROR"):
			return sdk.Errorf(sdk.ErrDevice, "connect %s: the module rejected the command (%s)", addr, l)
		}
	}
	return sdk.Errorf(sdk.ErrRefused, "connect %s: the module could not connect (refused, unreachable or timed out)", addr)
}

// resolve asks the module to resolve a host name (AT+CIPDOMAIN).
func (s *session) resolve(ctx context.Context, host string) (netip.Addr, error) {
	rep, err := s.do(ctx, &request{line: `AT+CIPDOMAIN="` + host + `"`, timeout: s.connectTimeout()})
	if err != nil {
		return netip.Addr{}, err
	}
	if rep.final != tokOK {
		return netip.Addr{}, sdk.Errorf(sdk.ErrNameNotResolved, "connect %s: the module could not resolve the name", host)
	}
	if l, ok := rep.hasLine("+CIPDOMAIN:"); ok {
		if ip, err := netip.ParseAddr(strings.Trim(strings.TrimSpace(l[len("+CIPDOMAIN:"):]), `"`)); err == nil {
			return ip, nil
		}
	}
	return netip.Addr{}, sdk.Errorf(sdk.ErrDevice, "connect %s: the module answered AT+CIPDOMAIN without an address", host)
}

// Listen starts the module's TCP server on req.Port (AT+CIPSERVER=1). Port
// 0 means "pick a free port": the module has no such form (it refuses
// AT+CIPSERVER=1,0), so the driver picks a port from the ephemeral range
// 49152-65535 and tries another while the module refuses it, up to
// listenTries ports; Local reports the port it got. The module has one
// server: a second Listen is ErrUnsupported. Accepted sockets are announced
// with Events.Accepted, with the peer from +LINK_CONN, the +IPD header or
// AT+CIPSTATUS. The server takes none of the module's five links: up to
// five connections are served besides it.
func (d *Driver) Listen(ctx context.Context, req sdk.ListenRequest) (sdk.Socket, error) {
	if err := sdk.CheckListen(req); err != nil {
		return 0, err
	}
	s, err := d.session("listen")
	if err != nil {
		return 0, err
	}
	lst := s.newSocket(-1)
	lst.listener, lst.port = true, req.Port
	close(lst.peerReady)
	s.mu.Lock()
	switch {
	case s.listener != nil:
		port := s.listener.port
		s.mu.Unlock()
		return 0, sdk.Errorf(sdk.ErrUnsupported, "listen on port %d: the ESP8266 runs one server at a time and it listens on port %d already: close that listener first", req.Port, port)
	}
	// Reserve the server now so that a concurrent Listen fails at once.
	// The server takes none of the module's links (s.used).
	s.listener = lst
	s.sockets[lst.id] = lst
	s.mu.Unlock()
	tries := 1
	if req.Port == 0 {
		tries = listenTries
	}
	var refused []string // the ports the module refused, for the error
	for try := 0; try < tries; try++ {
		port := req.Port
		if port == 0 {
			port = pickPort(try)
		}
		s.mu.Lock()
		lst.port = port
		s.mu.Unlock()
		// The last try, or a listen on a given port, gives the server up
		// when the module refuses; a refused try before it keeps the
		// reservation for the next port.
		last := try == tries-1
		release := func() {
			s.mu.Lock()
			if !lst.gone {
				s.release(lst)
				lst.gone = true
			}
			s.mu.Unlock()
		}
		_, err = s.do(ctx, &request{
			line: fmt.Sprintf("AT+CIPSERVER=1,%d", port),
			then: func(rep *reply) {
				if rep.ok() {
					// Server-side links time out after 180 s idle on 1.x;
					// sockets here live until closed.
					s.cmd("AT+CIPSTO=0", 0)
					return
				}
				if rep.err != nil || last {
					release()
				}
				if rep.err != nil {
					return
				}
				answer := strings.Join(append(rep.lines, rep.final.String()), "; ")
				switch {
				case req.Port != 0:
					rep.err = sdk.Errorf(sdk.ErrAddressInUse, "listen on port %d: the module refused to start its server (%s): the port may be in use", port, answer)
				case last:
					rep.err = sdk.Errorf(sdk.ErrAddressInUse, "listen on a free port: the module refused to start its server on %d ports picked from %d-65535 (%s; last answer: %s)", tries, ephemeralLow, strings.Join(append(refused, strconv.Itoa(port)), ", "), answer)
				default:
					rep.err = sdk.Errorf(sdk.ErrAddressInUse, "listen on port %d: the module refused it (%s)", port, answer)
				}
			},
			cleanup: func(rep *reply) {
				if rep.err != nil {
					release() // a refused try whose caller is gone
					return
				}
				s.mu.Lock()
				s.closeLocal(lst)
				s.mu.Unlock()
				s.cmd("AT+CIPSERVER=0", 0)
			},
		})
		if err == nil {
			break
		}
		if last || !errors.Is(err, sdk.ErrAddressInUse) {
			return 0, err
		}
		s.log.Debug("the module refused the port picked for a listener; picking another", "port", port, "error", err)
		refused = append(refused, strconv.Itoa(port))
	}
	s.mu.Lock()
	s.start(lst)
	port := lst.port
	s.mu.Unlock()
	s.log.Debug("listening", "socket", lst.id, "port", port)
	return lst.id, nil
}

// ephemeralLow is the start of the range (IANA's dynamic ports, 49152-65535)
// Listen picks a port from when it is given port 0.
const ephemeralLow = 49152

// listenTries is how many ports Listen(0) tries before it gives up.
const listenTries = 16

// pickPort returns the port try number try of a Listen(0) offers the module:
// a random one from the ephemeral range. Tests replace it.
var pickPort = func(try int) int { return ephemeralLow + rand.IntN(65536-ephemeralLow) }

// Send sends data on a connected socket, in AT+CIPSEND commands of at most
// 2048 bytes, and returns nil once the module took every byte (each command
// answered SEND OK). Concurrent Sends on one socket take turns and never
// interleave. SEND FAIL drops the socket (Dropped with ErrReset) and fails
// with ErrReset; only the first verdict of a send counts (1.x may print
// SEND FAIL right after SEND OK for the same send). A CIPSEND the module
// answers with a close instead of its prompt ("<id>,CLOSED" and ERROR, in
// either order) fails with ErrPeerClosed: nothing of it was sent, and the
// socket is dropped with ErrPeerClosed. When ctx
// ends, the command on the wire is still finished, and some of data may
// have been sent. data is not retained.
func (d *Driver) Send(ctx context.Context, id sdk.Socket, data []byte) error {
	s, err := d.session("send")
	if err != nil {
		return err
	}
	sk, err := s.lookup("send", id)
	if err != nil {
		return err
	}
	if sk.listener {
		return sdk.Errorf(sdk.ErrBadArgument, "send: %s is a listener, send on a connected socket", id)
	}
	if err := ctx.Err(); err != nil {
		return ctxError(ctx, "send on "+id.String())
	}
	select {
	case sk.sendTurn <- struct{}{}:
	case <-ctx.Done():
		return ctxError(ctx, "send on "+id.String())
	}
	defer func() { <-sk.sendTurn }()
	sent := 0
	for sent < len(data) {
		chunk := data[sent:min(sent+MaxWrite, len(data))]
		rep, err := s.do(ctx, &request{
			payload: append([]byte(nil), chunk...),
			prepare: func() (string, error) {
				s.mu.Lock()
				defer s.mu.Unlock()
				if sk.gone {
					return "", sdk.Errorf(sdk.ErrClosed, "send on %s: the socket is closed", id)
				}
				return fmt.Sprintf("AT+CIPSEND=%d,%d", sk.link, len(chunk)), nil
			},
			then: func(rep *reply) {
				switch {
				case rep.err != nil:
				case rep.final == tokSendFail:
					s.mu.Lock()
					if !sk.gone {
						s.log.Warn("module reported SEND FAIL; dropping the socket", "socket", id, "link", sk.link)
						closed := sk.peerClosed
						s.dropLocked(sk, sdk.Errorf(sdk.ErrReset, "%s: the module failed to send (SEND FAIL)", id))
						if !closed {
							s.closeLinkAsync(sk.link)
						}
						// else its "<id>,CLOSED" came already (a client reset
						// while the driver wrote): the module freed the link
						// and may give it to a new client at once, which an
						// AT+CIPCLOSE would cut.
					}
					s.mu.Unlock()
				case rep.final == tokError && !rep.prompted:
					// CIPSEND refused without a prompt: the link is gone
					// on the module ("link is not valid" on 1.x, a bare
					// ERROR on 2.x). Its "<id>,CLOSED" came before the
					// answer (the socket is dropped already) or is still
					// to come: act on it now.
					s.mu.Lock()
					if !sk.gone && s.links[sk.link].sock == sk {
						l := sk.link
						s.log.Debug("the module refused a send: the link is gone", "socket", id, "link", l)
						s.onClosed(l)
						if s.links[l].state == linkFree {
							s.links[l] = link{state: linkFailed} // its CLOSED may still come
						}
					}
					s.mu.Unlock()
				}
			},
		})
		if err != nil {
			if rep.committed {
				return fmt.Errorf("send on %s: %d bytes sent, %d more given to the module but not confirmed: %w", id, sent, len(chunk), err)
			}
			return fmt.Errorf("send on %s: %d of %d bytes sent: %w", id, sent, len(data), err)
		}
		switch rep.final {
		case tokSendOK:
			sent += len(chunk)
		case tokSendFail:
			return sdk.Errorf(sdk.ErrReset, "send on %s: the module failed to send (SEND FAIL) after %d of %d bytes; the socket is dropped", id, sent, len(data))
		default:
			if rep.prompted {
				return sdk.Errorf(sdk.ErrReset, "send on %s: the connection failed during the send (%d of %d bytes sent)", id, sent, len(data))
			}
			return sdk.Errorf(sdk.ErrPeerClosed, "send on %s: the peer closed the link before the module took the data: none of the last %d bytes was sent (%d of %d bytes sent in all)", id, len(data)-sent, sent, len(data))
		}
	}
	return nil
}

// Peer returns the remote address and port of a connected socket: the
// address connected to, or for an accepted socket what AT+CIPSTATUS said.
func (d *Driver) Peer(ctx context.Context, id sdk.Socket) (netip.AddrPort, error) {
	s, err := d.session("peer")
	if err != nil {
		return netip.AddrPort{}, err
	}
	sk, err := s.lookup("peer", id)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if sk.listener {
		return netip.AddrPort{}, sdk.Errorf(sdk.ErrBadArgument, "peer: %s is a listener, it has no peer", id)
	}
	select {
	case <-sk.peerReady:
	case <-ctx.Done():
		return netip.AddrPort{}, ctxError(ctx, "peer of "+id.String())
	}
	if sk.peer.IsValid() {
		return sk.peer, nil
	}
	return s.status(ctx, sk.link)
}

// CloseWrite is not supported (Info.CanHalfClose is false): the AT
// firmware has no half-close, AT+CIPCLOSE ends a link both ways. It returns
// ErrUnsupported and leaves the socket as it was; ErrClosed for a socket
// that is not open, ErrBadArgument for the listener. Close the socket
// instead when done sending.
func (d *Driver) CloseWrite(ctx context.Context, id sdk.Socket) error {
	s, err := d.session("close write")
	if err != nil {
		return err
	}
	sk, err := s.lookup("close write", id)
	if err != nil {
		return err
	}
	if sk.listener {
		return sdk.Errorf(sdk.ErrBadArgument, "close write: %s is a listener, it has nothing to half-close", id)
	}
	return sdk.Errorf(sdk.ErrUnsupported, "close write on %v: the ESP8266 AT firmware closes a link fully; close the socket instead", id)
}

// CloseSocket closes a socket locally: AT+CIPCLOSE for a connection (an
// "UNLINK" or ERROR answer means it was closed already), AT+CIPSERVER=0 for
// the listener (its accepted sockets stay open). It raises no Dropped; once
// it returns no new event of the socket starts (a callback already running,
// such as the one calling CloseSocket, finishes normally). Closing a socket
// that is unknown, closed or already dropped is ErrClosed.
func (d *Driver) CloseSocket(ctx context.Context, id sdk.Socket) error {
	s, err := d.session("close socket")
	if err != nil {
		return err
	}
	s.mu.Lock()
	sk := s.sockets[id]
	if sk == nil || sk.gone {
		s.mu.Unlock()
		return sdk.Errorf(sdk.ErrClosed, "close: %s is not open", id)
	}
	s.closeLocal(sk)
	line := "AT+CIPSERVER=0"
	var then func(*reply)
	if !sk.listener {
		l := sk.link
		line = fmt.Sprintf("AT+CIPCLOSE=%d", l)
		s.links[l] = link{state: linkClosing}
		then = func(*reply) {
			s.mu.Lock()
			if s.links[l].state == linkClosing {
				s.links[l] = link{}
			}
			s.mu.Unlock()
		}
	}
	s.mu.Unlock()
	s.log.Debug("closing", "socket", id)
	if _, err := s.do(ctx, &request{line: line, then: then}); err != nil {
		// The socket is closed for the host either way; the command, if
		// on the wire, is finished in the background.
		s.log.Debug("close command did not complete", "socket", id, "error", err)
	}
	return nil
}

// Close closes every socket (without Dropped events), tells the module to
// close its links and server (briefly, best effort), stops every goroutine
// and closes the port. It waits for the goroutines until ctx ends
// (ErrTimeout): a deliverer blocked in Events.Received returns only when the
// host lets it. Close is idempotent.
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	s := d.sess
	d.sess = nil
	if s == nil && d.opening {
		d.closeReq = true // Open closes what it opened and fails
	}
	d.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.shutdown(ctx, true)
}

// shutdown ends the session. tidy asks the module to close what is open.
func (s *session) shutdown(ctx context.Context, tidy bool) error {
	s.mu.Lock()
	s.closing = true
	hadLinks, hadServer := false, s.listener != nil
	for i := range s.links {
		// A closing link has its CIPCLOSE queued already.
		if st := s.links[i].state; st == linkOpen || st == linkConnecting {
			hadLinks = true
		}
	}
	for _, sk := range s.sockets {
		s.closeLocal(sk)
	}
	tidy = tidy && s.failErr == nil && s.downErr == nil
	s.mu.Unlock()
	if tidy && (hadLinks || hadServer) {
		tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if hadServer {
			s.do(tctx, &request{line: "AT+CIPSERVER=0", timeout: time.Second})
		}
		if hadLinks {
			s.do(tctx, &request{line: "AT+CIPCLOSE=5", timeout: time.Second})
		}
		cancel()
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	// Let the runner finish the write it may be in: a CIPSEND payload cut
	// short would leave the module waiting for the rest, eating the next
	// driver's commands as data. A write that blocks (the module stopped
	// reading) is cut by closing the port after a moment.
	t := time.NewTimer(2 * time.Second)
	select {
	case <-s.runnerDone:
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	cerr := s.port.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.log.Debug("closed")
		if cerr != nil {
			s.log.Debug("closing the port", "error", cerr)
		}
		return nil
	case <-ctx.Done():
		s.log.Warn("close: goroutines still running; a deliverer may be blocked in Events.Received")
		return sdk.Errorf(sdk.ErrTimeout, "close %s: deliverers still blocked in Events.Received: %w", driverName, ctx.Err())
	}
}
