package remote

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"ifsock/internal/wire"
	"ifsock/sdk"
)

// server is the plugin side of the wire protocol: it serves one sdk.Driver to
// one host. It owns the sink the driver raises events on; the sdk.Events stream
// handler drains it.
type server struct {
	wire.UnimplementedDriverServer

	driver sdk.Driver
	logger hclog.Logger

	mu      sync.Mutex
	sink    *sink
	writers *writers
	opened  bool
	closed  bool
	// dataOpened is set once the data path was asked for: there is one.
	dataOpened bool
}

func newServer(d sdk.Driver, logger hclog.Logger) *server {
	k := newSink(wire.DefaultWindow)
	w := newWriters(d, k)
	k.onDropped = w.forget
	return &server{driver: d, logger: logger, sink: k, writers: w}
}

func (s *server) Open(ctx context.Context, req *wire.OpenRequest) (*wire.OpenResponse, error) {
	s.mu.Lock()
	if s.opened || s.closed {
		s.mu.Unlock()
		return &wire.OpenResponse{Status: statusOf(sdk.Errorf(sdk.ErrBadArgument, "open: this driver process was opened already"))}, nil
	}
	s.opened = true
	if req.Window > 0 {
		s.sink.window = int64(req.Window)
	}
	s.mu.Unlock()
	settings := sdk.Settings(req.Settings)
	if settings == nil {
		settings = sdk.Settings{}
	}
	info, err := s.driver.Open(ctx, sdk.OpenRequest{
		Interface: req.Interface,
		Settings:  settings,
		Events:    s.sink,
		Logger:    s.logger,
	})
	if err != nil {
		return &wire.OpenResponse{Status: statusOf(err)}, nil
	}
	return &wire.OpenResponse{
		Name: info.Name, Version: info.Version, Device: info.Device,
		CanListen: info.CanListen, MaxListeners: uint32(info.MaxListeners),
		MaxSockets: uint32(info.MaxSockets), MaxWrite: uint32(info.MaxWrite),
	}, nil
}

func (s *server) Connect(ctx context.Context, req *wire.ConnectRequest) (*wire.SocketResponse, error) {
	sock, err := s.driver.Connect(ctx, sdk.ConnectRequest{Host: req.Host, Port: int(req.Port)})
	return &wire.SocketResponse{Status: statusOf(err), Socket: uint64(sock)}, nil
}

func (s *server) Listen(ctx context.Context, req *wire.ListenRequest) (*wire.SocketResponse, error) {
	sock, err := s.driver.Listen(ctx, sdk.ListenRequest{Port: int(req.Port)})
	return &wire.SocketResponse{Status: statusOf(err), Socket: uint64(sock)}, nil
}

func (s *server) Peer(ctx context.Context, req *wire.SocketRequest) (*wire.PeerResponse, error) {
	addr, err := s.driver.Peer(ctx, sdk.Socket(req.Socket))
	if err != nil {
		return &wire.PeerResponse{Status: statusOf(err)}, nil
	}
	return &wire.PeerResponse{Addr: addr.String()}, nil
}

func (s *server) CloseSocket(ctx context.Context, req *wire.SocketRequest) (*wire.Status, error) {
	sock := sdk.Socket(req.Socket)
	s.sink.closeSocket(sock)
	s.writers.forget(sock)
	if err := s.driver.CloseSocket(ctx, sock); err != nil {
		return statusOf(err), nil
	}
	return &wire.Status{}, nil
}

func (s *server) Close(ctx context.Context, _ *wire.Empty) (*wire.Status, error) {
	return statusOf(s.closeDriver(ctx)), nil
}

// closeDriver closes the driver once; the sink is closed first so that no
// Received stays blocked on credit the host will never give.
func (s *server) closeDriver(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	opened := s.opened
	s.mu.Unlock()
	s.sink.close()
	s.writers.close()
	if !opened {
		return nil
	}
	err := s.driver.Close(ctx)
	if err == nil {
		return nil
	}
	return err
}

// OpenData opens the data path (see wire.proto): a Unix socket in a fresh
// directory, for one connection that must present the token.
func (s *server) OpenData(ctx context.Context, _ *wire.Empty) (*wire.DataChannel, error) {
	s.mu.Lock()
	if s.dataOpened || s.closed {
		s.mu.Unlock()
		return &wire.DataChannel{Status: statusOf(sdk.Errorf(sdk.ErrBadArgument, "open data: the data path is open already"))}, nil
	}
	s.dataOpened = true
	s.mu.Unlock()
	dir, err := os.MkdirTemp(os.Getenv(plugin.EnvUnixSocketDir), "ifsock-data-")
	if err != nil {
		return &wire.DataChannel{Status: statusOf(sdk.Errorf(sdk.ErrInternal, "open data: %w", err))}, nil
	}
	path := filepath.Join(dir, "d")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return &wire.DataChannel{Status: statusOf(sdk.Errorf(sdk.ErrInternal, "open data: %w", err))}, nil
	}
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	go s.serveData(l, dir, token)
	return &wire.DataChannel{Path: path, Token: token}, nil
}

// serveData accepts the host's data connection and runs the session on it:
// a reader of writes, cancels and credits, and a writer of event batches.
// The session ends when either side stops; then the driver closes.
func (s *server) serveData(l *net.UnixListener, dir string, token []byte) {
	_ = l.SetDeadline(time.Now().Add(dataAcceptTimeout))
	conn, err := l.Accept()
	l.Close()
	os.RemoveAll(dir)
	if err != nil {
		s.logger.Error("the host did not open the data path", "error", err)
		_ = s.closeDriver(context.Background())
		return
	}
	defer conn.Close()
	fr, fw := wire.NewFrameReader(conn), wire.NewFrameWriter(conn)
	var hello wire.DataChannel
	if err := fr.Read(&hello); err != nil || subtle.ConstantTimeCompare(hello.Token, token) != 1 {
		s.logger.Error("data path: bad or missing token; closing", "error", err)
		_ = s.closeDriver(context.Background())
		return
	}

	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			var msg wire.HostBatch
			if err := fr.Read(&msg); err != nil {
				return
			}
			for _, c := range msg.Credits {
				s.sink.grant(sdk.Socket(c.Socket), int64(c.Bytes))
			}
			for _, c := range msg.Cancels {
				s.writers.abandon(sdk.Socket(c.Socket), c.Id)
			}
			for _, w := range msg.Writes {
				s.writers.add(w)
			}
		}
	}()
	s.sink.attach(fw, conn)
	// The session lasts until the host goes away (the reader ends) or the
	// driver is closed (the sink closes); what is queued by then is sent.
	select {
	case <-readerDone:
	case <-s.sink.done:
	}
	s.sink.drain()
	conn.Close()
	<-readerDone
	_ = s.closeDriver(context.Background())
}

// dataAcceptTimeout bounds how long the plugin waits for the host to dial
// the data path it asked for.
const dataAcceptTimeout = 10 * time.Second
