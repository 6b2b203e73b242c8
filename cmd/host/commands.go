package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/sdk"
)

// cmdDemo runs the seed page's two examples over lo0: the echo server and
// the client that says hello and prints what comes back.
func cmdDemo(h *core.Host, args []string, stdout io.Writer) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: demo takes no arguments", errUsage)
	}
	lo, err := h.Interface("lo0")
	if err != nil {
		return err
	}
	out := &lockedWriter{w: stdout}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const port = 4444
	const hello = "Hello world!\n"

	// Server example: accept, and echo back whatever a client sends.
	out.printf("Opening listening socket on port %d...\n", port)
	serv, err := lo.Listen(ctx, port, core.Handlers{
		Connected: func(s *core.Socket) {
			peer, err := s.Peer()
			if err != nil {
				out.printf("ERROR: Socket connected but failed to get peer info!\n")
				_ = s.Close()
				return
			}
			out.printf("Client connected from %s:%d!\n", peer.Addr(), peer.Port())
		},
		Received: func(s *core.Socket, data []byte) {
			_ = s.Send(data)
			out.printf("Got message from client: [%s]\n", strings.TrimRight(string(data), "\n"))
		},
		Disconnected: func(s *core.Socket, reason error) { out.printf("Client disconnected!\n") },
	}, nil)
	if err != nil {
		return fmt.Errorf("failed to open listening socket: %w", err)
	}
	defer serv.Close()

	// Client example: connect, say hello, display what comes back, close.
	var (
		mu   sync.Mutex
		got  []byte
		done = make(chan struct{})
	)
	out.printf("Connecting socket to 127.0.0.1:%d\n", port)
	sock, err := lo.Connect(ctx, "127.0.0.1", port, core.Handlers{
		Received: func(s *core.Socket, data []byte) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, data...)
			if len(got) >= len(hello) {
				out.printf("Got response! Message data: [%s]\n", strings.TrimRight(string(got), "\n"))
				_ = s.Close()
				close(done)
			}
		},
		Disconnected: func(s *core.Socket, reason error) { out.printf("Peer disconnected socket!\n") },
	}, nil)
	if err != nil {
		return fmt.Errorf("failed to connect socket: %w", err)
	}
	out.printf("Sending hello message...\n")
	if err := sock.Send([]byte(hello)); err != nil {
		_ = sock.Close()
		return fmt.Errorf("failed to send data: %w", err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return sdk.Errorf(sdk.ErrTimeout, "demo: no echo came back within 30s")
	}
	mu.Lock()
	defer mu.Unlock()
	if string(got) != hello {
		return fmt.Errorf("demo: the echo came back altered: %q, want %q", got, hello)
	}
	// Let the server see the client go before the interface closes.
	time.Sleep(50 * time.Millisecond)
	out.printf("Demo OK: the echo came back intact over lo0 (driver %s, a separate process)\n", lo.Info().Name)
	return nil
}

// cmdIfaces starts every interface and prints one line each.
func cmdIfaces(h *core.Host, args []string, stdout io.Writer) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: ifaces takes no arguments", errUsage)
	}
	ifaces := h.Interfaces()
	var wg sync.WaitGroup
	for _, i := range ifaces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			_ = i.Start(ctx)
		}()
	}
	wg.Wait()
	w := bufio.NewWriter(stdout)
	for _, i := range ifaces {
		state, err := i.State()
		line := fmt.Sprintf("%s\t%s\t%s", i.Name(), i.Driver(), state)
		if state == core.Up {
			if info := i.Info(); info.Device != "" {
				line += "\t" + info.Device
			}
		} else if err != nil {
			line += "\t" + err.Error()
		}
		if r := i.Restarts(); r.Total > 0 || r.Crashes > 0 {
			line += fmt.Sprintf("\trestarts=%d failures=%d", r.Total, r.Crashes)
			if !r.Next.IsZero() {
				line += fmt.Sprintf(" next-start-in=%v", time.Until(r.Next).Round(time.Millisecond))
			}
		}
		fmt.Fprintln(w, line)
	}
	return w.Flush()
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%w: port %q: want a number from 1 to 65535", errUsage, s)
	}
	return p, nil
}

// parseListenPort parses the PORT of host listen: 1-65535, or 0 for a
// port the interface picks.
func parseListenPort(s string) (int, error) {
	if p, err := strconv.Atoi(s); err == nil && p == 0 {
		return 0, nil
	}
	p, err := parsePort(s)
	if err != nil {
		return 0, fmt.Errorf("%w: port %q: want a number from 0 (the interface picks a free port) to 65535", errUsage, s)
	}
	return p, nil
}

// relistenWithin is how long host listen tries to listen again after its
// listener was dropped (a module reset, a driver restart) before it gives
// up and exits non-zero.
const relistenWithin = 30 * time.Second

// cmdListen accepts connections until interrupted, printing what arrives
// (or echoing it back with --echo), and closes each connection when its
// peer finished sending: the close delivers every echo already sent.
// Connection notices go to stderr, data to stdout. When the listener is
// dropped (the ESP8266 reset, the driver process died and is restarted),
// it listens again, retrying for up to relistenWithin, and says so on
// stderr; it fails only if it cannot.
func cmdListen(h *core.Host, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	echo := fs.Bool("echo", false, "echo what arrives back to the sender")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: listen: %v", errUsage, err)
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("%w: listen [--echo] IFACE PORT", errUsage)
	}
	iface, err := h.Interface(fs.Arg(0))
	if err != nil {
		return err
	}
	port, err := parseListenPort(fs.Arg(1))
	if err != nil {
		return err
	}
	out := &lockedWriter{w: stdout}
	note := &lockedWriter{w: stderr}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	lost := make(chan error, 1) // the current listener was dropped
	handlers := core.Handlers{
		Connected: func(s *core.Socket) {
			peer, err := s.Peer()
			if err != nil {
				// The interface could not tell (an ESP8266 client that
				// left before the module was asked): never print an
				// invalid address.
				note.printf("connected: %s from an unknown address (%v)\n", s, err)
				return
			}
			note.printf("connected: %s from %s\n", s, peer)
		},
		Received: func(s *core.Socket, data []byte) {
			if *echo {
				if err := s.Send(data); err != nil {
					// The echo cannot be whole any more: say so once and end it.
					note.printf("echo to %s: %v; closing it\n", s, err)
					_ = s.Close()
				}
				return
			}
			out.write(data)
		},
		// The peer finished sending (TCP FIN): every byte it sent was
		// received (and echoed). Where the interface cannot half-close, the
		// peer's close is a Disconnected instead.
		Finished: func(s *core.Socket) {
			note.printf("finished: %s (the peer finished sending; closing)\n", s)
			if err := s.Close(); err != nil {
				note.printf("close %s: %v\n", s, err)
			}
		},
		Disconnected: func(s *core.Socket, reason error) {
			if s.IsListener() {
				select {
				case lost <- reason:
				default:
				}
				return
			}
			note.printf("disconnected: %s (%v)\n", s, reason)
		},
	}
	l, err := iface.Listen(ctx, port, handlers, nil)
	if err != nil {
		return err
	}
	if port == 0 {
		// The driver picked the port (design rule 12): say which, and
		// listen on that one again after a drop, where clients expect it.
		local, err := l.LocalContext(ctx)
		if err != nil || local.Port() == 0 {
			_ = l.Close()
			if err == nil {
				err = fmt.Errorf("%s reported port 0", iface.Name())
			}
			return fmt.Errorf("listen on %s port 0: the interface did not say which port it picked: %w", iface.Name(), err)
		}
		port = int(local.Port())
	}
	note.printf("listening on %s port %d\n", iface.Name(), port)
	for {
		select {
		case <-ctx.Done():
			_ = l.Close()
			return nil
		case reason := <-lost:
			note.printf("listener on %s port %d dropped (%v); listening again\n", iface.Name(), port, reason)
			if l, err = relisten(ctx, iface, port, handlers); err != nil {
				if ctx.Err() != nil {
					return nil // interrupted while retrying
				}
				return err
			}
			note.printf("listening again on %s port %d\n", iface.Name(), port)
		}
	}
}

// relisten listens on port again after the listener was dropped, retrying
// (the driver may be restarting, the module coming back up) for up to
// relistenWithin.
func relisten(ctx context.Context, iface *core.Interface, port int, h core.Handlers) (*core.Socket, error) {
	deadline := time.Now().Add(relistenWithin)
	pause := 100 * time.Millisecond
	for {
		actx, cancel := context.WithDeadline(ctx, deadline)
		l, err := iface.Listen(actx, port, h, nil)
		cancel()
		if err == nil {
			return l, nil
		}
		if ctx.Err() != nil || !time.Now().Add(pause).Before(deadline) {
			return nil, fmt.Errorf("could not listen on %s port %d again within %v: %w", iface.Name(), port, relistenWithin, err)
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// cmdConnect pipes stdin to a socket and the socket to stdout. Where the
// interface can half-close (sdk.Info's CanHalfClose: eth0, lo0), the end of
// stdin half-closes the socket and what arrives is printed until the peer
// finishes too; the peer finishing first does not stop stdin. Where it
// cannot (an ESP8266's wl0), the end of stdin waits at most --linger for
// the peer to close, and the peer's close ends the command. Whenever some
// of stdin could not be delivered (a send failed, or the peer closed while
// stdin still had bytes at hand), the command says so and fails.
func cmdConnect(h *core.Host, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("connect", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	linger := fs.Duration("linger", 2*time.Second, "where the interface cannot half-close: after stdin ends, how long to wait for the peer to close")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: connect: %v", errUsage, err)
	}
	if fs.NArg() != 2 && fs.NArg() != 3 {
		return fmt.Errorf("%w: connect IFACE HOST PORT, or connect IFACE URL", errUsage)
	}
	iface, err := h.Interface(fs.Arg(0))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Finished and Disconnected each run at most once, after the last
	// Received: when they are seen, everything that arrived is printed.
	finished := make(chan struct{})
	dropped := make(chan error, 1)
	out := &lockedWriter{w: stdout}
	handlers := core.Handlers{
		Received:     func(s *core.Socket, data []byte) { out.write(data) },
		Finished:     func(s *core.Socket) { close(finished) },
		Disconnected: func(s *core.Socket, reason error) { dropped <- reason },
	}
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var sock *core.Socket
	if fs.NArg() == 2 {
		sock, err = iface.ConnectURL(dialCtx, fs.Arg(1), handlers, nil)
	} else {
		port, perr := parsePort(fs.Arg(2))
		if perr != nil {
			return perr
		}
		sock, err = iface.Connect(dialCtx, fs.Arg(1), port, handlers, nil)
	}
	if err != nil {
		return err
	}
	halfClose := iface.Info().CanHalfClose
	stdinDone := make(chan pumped, 1)
	var sending atomic.Bool
	go func() { stdinDone <- pump(ctx, stdin, sock, &sending) }()

	var (
		stdinEnded   bool
		peerFinished bool
		lingerC      <-chan time.Time // waiting for the peer where the interface cannot half-close
	)
	for {
		select {
		case reason := <-dropped:
			if errors.Is(reason, sdk.ErrPeerClosed) {
				// The peer closed in order: the normal end (on an interface that
				// cannot half-close, as before, even while stdin goes on),
				// unless some of stdin could not be delivered.
				if stdinEnded {
					return nil
				}
				return afterPeerClosed(stdinDone, &sending)
			}
			if !stdinEnded {
				return fmt.Errorf("the connection broke before all of stdin was sent: %w", reason)
			}
			return fmt.Errorf("the connection broke before the peer closed: %w", reason)
		case <-finished:
			finished, peerFinished = nil, true
			if stdinEnded {
				return closeSocket(sock)
			}
			// The peer finished sending; it may still be reading: go on
			// with stdin (if it closed, the next sends fail and say so).
		case p := <-stdinDone:
			stdinDone = nil
			if p.err != nil {
				_ = sock.Close()
				if p.sendErr {
					return fmt.Errorf("could not deliver all of stdin (%d bytes sent): %w", p.sent, p.err)
				}
				return p.err
			}
			stdinEnded = true
			if peerFinished {
				// Both sides finished sending: the close delivers the rest.
				return closeSocket(sock)
			}
			if halfClose {
				err := sock.CloseWrite()
				if err == nil {
					continue // print what arrives until the peer finishes
				}
				if !errors.Is(err, sdk.ErrUnsupported) {
					_ = sock.Close()
					return fmt.Errorf("half-closing after stdin ended: %w", err)
				}
			}
			lingerC = time.After(*linger)
		case <-lingerC:
			_ = sock.Close()
			return nil
		case <-ctx.Done():
			_ = sock.Close()
			return nil
		}
	}
}

// closeSocket closes s after both sides finished sending: the close
// delivers what was sent, and an error says it could not.
func closeSocket(s *core.Socket) error {
	if err := s.Close(); err != nil {
		return fmt.Errorf("closing the connection: %w", err)
	}
	return nil
}

// peerClosedGrace is how long host connect waits, once the peer closed
// while stdin goes on, for what stdin has at hand: bytes it could not
// deliver make it fail rather than end as if all was well.
const peerClosedGrace = 200 * time.Millisecond

// afterPeerClosed decides how host connect ends when the peer closed before
// stdin ended: with an error if a send under way, or one of what stdin
// gives at once, fails (the socket is gone, so it fails promptly); with
// nil when stdin ended with every byte sent, or has nothing at hand.
func afterPeerClosed(done <-chan pumped, sending *atomic.Bool) error {
	t := time.NewTimer(peerClosedGrace)
	defer t.Stop()
	for {
		select {
		case p := <-done:
			switch {
			case p.err != nil && p.sendErr:
				return fmt.Errorf("the peer closed the connection before all of stdin was delivered (%d bytes sent): %w", p.sent, p.err)
			case p.err != nil:
				return p.err
			}
			return nil
		case <-t.C:
			if !sending.Load() {
				return nil // stdin has nothing at hand: nothing was lost
			}
			t.Reset(peerClosedGrace)
		}
	}
}

// pumped is how copying stdin to the socket ended.
type pumped struct {
	sent    int64
	err     error // nil when stdin ended and every byte was sent
	sendErr bool  // err is the socket's, not stdin's
}

// pump copies stdin to the socket until stdin ends; sending is true while
// it holds bytes of stdin it has not delivered.
func pump(ctx context.Context, r io.Reader, s *core.Socket, sending *atomic.Bool) pumped {
	var p pumped
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			sending.Store(true)
			serr := s.SendContext(ctx, buf[:n])
			sending.Store(false)
			if serr != nil {
				p.err, p.sendErr = serr, true
				return p
			}
			p.sent += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return p
		}
		if err != nil {
			p.err = fmt.Errorf("reading stdin: %w", err)
			return p
		}
	}
}

// lockedWriter keeps lines from different callbacks whole.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}

func (l *lockedWriter) write(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(p)
}
