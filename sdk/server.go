package sdk

import (
	"context"
	"sync"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"

	"ifsock/internal/wire"
)

// server is the plugin side of the wire protocol: it serves one Driver to
// one host. It owns the sink the driver raises events on; the Events stream
// handler drains it.
type server struct {
	wire.UnimplementedDriverServer

	driver Driver
	logger hclog.Logger

	mu      sync.Mutex
	sink    *sink
	writers *writers
	opened  bool
	closed  bool
}

func newServer(d Driver, logger hclog.Logger) *server {
	k := newSink(wire.DefaultWindow)
	return &server{driver: d, logger: logger, sink: k, writers: newWriters(d, k)}
}

func (s *server) Open(ctx context.Context, req *wire.OpenRequest) (*wire.OpenResponse, error) {
	s.mu.Lock()
	if s.opened || s.closed {
		s.mu.Unlock()
		return &wire.OpenResponse{Status: statusOf(Errorf(ErrBadArgument, "open: this driver process was opened already"))}, nil
	}
	s.opened = true
	if req.Window > 0 {
		s.sink.window = int64(req.Window)
	}
	s.mu.Unlock()
	settings := Settings(req.Settings)
	if settings == nil {
		settings = Settings{}
	}
	info, err := s.driver.Open(ctx, OpenRequest{
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
	sock, err := s.driver.Connect(ctx, ConnectRequest{Host: req.Host, Port: int(req.Port)})
	return &wire.SocketResponse{Status: statusOf(err), Socket: uint64(sock)}, nil
}

func (s *server) Listen(ctx context.Context, req *wire.ListenRequest) (*wire.SocketResponse, error) {
	sock, err := s.driver.Listen(ctx, ListenRequest{Port: int(req.Port)})
	return &wire.SocketResponse{Status: statusOf(err), Socket: uint64(sock)}, nil
}

func (s *server) Peer(ctx context.Context, req *wire.SocketRequest) (*wire.PeerResponse, error) {
	addr, err := s.driver.Peer(ctx, Socket(req.Socket))
	if err != nil {
		return &wire.PeerResponse{Status: statusOf(err)}, nil
	}
	return &wire.PeerResponse{Addr: addr.String()}, nil
}

func (s *server) CloseSocket(ctx context.Context, req *wire.SocketRequest) (*wire.Status, error) {
	sock := Socket(req.Socket)
	s.sink.closeSocket(sock)
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

// Session runs for the driver's life: it writes batches of events and
// reads the host's writes, cancels and credits. When the host goes away the
// stream breaks and the driver is closed.
func (s *server) Session(stream grpc.BidiStreamingServer[wire.HostBatch, wire.EventBatch]) error {
	ctx := stream.Context()
	go func() {
		for {
			msg, err := stream.Recv()
			if err != nil {
				return
			}
			for _, c := range msg.Credits {
				s.sink.grant(Socket(c.Socket), int64(c.Bytes))
			}
			for _, c := range msg.Cancels {
				s.writers.abandon(Socket(c.Socket), c.Id)
			}
			for _, w := range msg.Writes {
				s.writers.add(w)
			}
		}
	}()
	for {
		batch, ok := s.sink.next(ctx.Done())
		if !ok {
			break
		}
		if err := stream.Send(&wire.EventBatch{Events: batch}); err != nil {
			s.logger.Debug("event stream broken", "error", err)
			break
		}
	}
	// The stream ends when the sink closes (the driver was closed) or the
	// host went away; either way the session is over.
	// Returning cancels the stream, which ends the credit reader.
	_ = s.closeDriver(context.WithoutCancel(ctx))
	return nil
}
