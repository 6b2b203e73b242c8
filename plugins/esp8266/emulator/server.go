package emulator

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// server is the module's one TCP server, listening on the host at
// 127.0.0.1:<port>+PortOffset (a port the host picks with AnyHostPort). Its acceptor goroutine is owned by the
// session and ends when ln is closed.
type server struct {
	ln   net.Listener
	port int // the port the host asked for (the module's local port)
}

// acceptEvent is a connection accepted by srv, waiting for a link slot.
type acceptEvent struct {
	srv  *server
	conn net.Conn
	// burst-accept: what the client sent (and whether it closed) before
	// the module announced it.
	pre []byte
	eof bool
}

const defaultServerPort = 333

// cmdCIPSERVER: AT+CIPSERVER=1[,<port>] starts the server (CIPMUX=1 needed),
// AT+CIPSERVER=0[,<close clients>] stops it; 2.x also has the query.
func cmdCIPSERVER(s *session, c *command) {
	switch c.kind {
	case kindQuery:
		if s.v1 {
			s.fail("", errParamCount)
			return
		}
		if s.srv == nil {
			s.emit("+CIPSERVER:0\r\n\r\nOK\r\n")
			return
		}
		s.emit(fmt.Sprintf("+CIPSERVER:1,%d,\"TCP\"\r\n\r\nOK\r\n", s.srv.port))
		return
	case kindSet:
	default:
		s.fail("", errParamCount)
		return
	}
	mode, ok := c.num(0, 0, 1)
	if !ok || len(c.args) > 3 {
		s.fail("", errParamParse)
		return
	}
	if mode == 0 {
		closeClients := false
		if len(c.args) >= 2 {
			n, ok := c.num(1, 0, 1)
			if !ok || s.v1 {
				s.fail("", errParamParse)
				return
			}
			closeClients = n == 1
		}
		if s.srv == nil {
			s.noChange()
			return
		}
		s.stopServer()
		var b strings.Builder
		if closeClients {
			for _, l := range s.links {
				if l.open() && l.server {
					b.WriteString(s.closedMsg(l.id))
					s.dropLink(l)
				}
			}
		}
		b.WriteString("\r\nOK\r\n")
		s.emit(b.String())
		return
	}
	port := defaultServerPort
	if len(c.args) >= 2 {
		if port, ok = c.num(1, 1, 65535); !ok {
			s.fail("", errParamParse)
			return
		}
	}
	if !s.set.mux {
		s.fail("", 0)
		return
	}
	if s.srv != nil {
		if s.srv.port == port {
			s.noChange()
		} else {
			s.fail("", 0)
		}
		return
	}
	hostPort := port + s.cfg.PortOffset
	if s.cfg.AnyHostPort {
		hostPort = 0 // the host picks; ServerAddr says which
	} else if hostPort < 1 || hostPort > 65535 {
		s.log.Warn("cipserver: port plus offset is out of range", "port", port, "offset", s.cfg.PortOffset)
		s.fail("TcpServer Failure", 0)
		return
	}
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", hostPort))
	if err != nil {
		s.log.Warn("cipserver: cannot listen", "error", err)
		s.fail("TcpServer Failure", 0)
		return
	}
	srv := &server{ln: ln, port: port}
	s.srv = srv
	s.e.setServerAddr(ln.Addr())
	s.wg.Add(1)
	go s.acceptLoop(srv)
	s.ok()
}

// noChange is the answer to a CIPSERVER that changes nothing: 1.x prints
// "no change" before OK.
func (s *session) noChange() {
	if s.v1 {
		s.emit("no change\r\n\r\nOK\r\n")
		return
	}
	s.ok()
}

func (s *session) stopServer() {
	if s.srv == nil {
		return
	}
	s.srv.ln.Close()
	s.srv = nil
	s.e.setServerAddr(nil)
}

// acceptLoop is the server's acceptor goroutine.
func (s *session) acceptLoop(srv *server) {
	defer s.wg.Done()
	for {
		conn, err := srv.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("cipserver: accept failed", "error", err)
			select {
			case <-time.After(10 * time.Millisecond):
				continue
			case <-s.done:
				return
			}
		}
		ev := acceptEvent{srv: srv, conn: conn}
		if s.faults.enabled(FaultBurstAccept) {
			ev.pre, ev.eof = burstRead(conn)
		}
		select {
		case s.accepts <- ev:
		case <-s.done:
			conn.Close()
			return
		}
	}
}

func (s *session) onAccept(ev acceptEvent) {
	if s.faults.enabled(FaultInterleave) && s.srv == ev.srv {
		s.hold(ev)
		return
	}
	s.applyAccept(ev)
}

// applyAccept gives the connection the lowest free link id and prints
// "<id>,CONNECT"; with no free id (or CIPSERVERMAXCONN reached) the client
// is refused by closing it.
func (s *session) applyAccept(ev acceptEvent) {
	if s.srv != ev.srv || s.rx == rxResetting {
		ev.conn.Close()
		return
	}
	clients := 0
	for _, l := range s.links {
		if l.open() && l.server {
			clients++
		}
	}
	id := -1
	for i := range s.links {
		if s.slotFree(i) {
			id = i
			break
		}
	}
	if id < 0 || clients >= s.set.maxConn {
		s.log.Debug("cipserver: no free link, refusing a client", "remote", ev.conn.RemoteAddr())
		ev.conn.Close()
		return
	}
	l := &link{}
	s.claim(id, l)
	s.emit(s.connectLine(id, ev.conn, true, s.srv.port))
	s.activate(l, ev.conn, true, s.srv.port)
	if len(ev.pre) > 0 || ev.eof {
		s.faults.always(FaultBurstAccept)
	}
	if len(ev.pre) > 0 {
		gen := s.gen
		s.onData(l, ev.pre)
		if s.gen != gen || s.links[id] != l {
			return
		}
	}
	if ev.eof {
		s.onPeerGone(l)
	}
}

// burstRead waits (briefly) for a new client's first data and for its
// close, for the burst-accept fault.
func burstRead(conn net.Conn) (pre []byte, eof bool) {
	defer conn.SetReadDeadline(time.Time{})
	buf := make([]byte, mss)
	conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	n, err := conn.Read(buf)
	if err == nil && n < len(buf) {
		conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var k int
		k, err = conn.Read(buf[n:])
		n += k
	}
	var ne net.Error
	return buf[:n], err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// cmdCIPSERVERMAXCONN sets the client limit (1..5) before the server starts.
func cmdCIPSERVERMAXCONN(s *session, c *command) {
	switch c.kind {
	case kindQuery:
		s.emit(fmt.Sprintf("+CIPSERVERMAXCONN:%d\r\n\r\nOK\r\n", s.set.maxConn))
	case kindSet:
		n, ok := c.num(0, 1, maxLinks)
		if !ok || len(c.args) != 1 {
			s.fail("", errParamParse)
			return
		}
		if s.srv != nil {
			s.fail("", 0) // "Server has started" goes to the console
			return
		}
		s.set.maxConn = n
		s.ok()
	default:
		s.fail("", errParamCount)
	}
}

// cmdCIPSTO sets the idle timeout of server-side links (0 = never).
func cmdCIPSTO(s *session, c *command) {
	switch c.kind {
	case kindQuery:
		s.emit(fmt.Sprintf("+CIPSTO:%d\r\n\r\nOK\r\n", s.set.sto))
	case kindSet:
		n, ok := c.num(0, 0, 7200)
		if !ok || len(c.args) != 1 {
			s.fail("", errParamParse)
			return
		}
		s.set.sto = n
		s.ok()
	default:
		s.fail("", errParamCount)
	}
}
