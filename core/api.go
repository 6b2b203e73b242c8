package core

import (
	"context"

	"github.com/ifsock/ifsock/sdk"
)

// Connect opens a client socket to host:port, Dooba's socket_cnct (and
// socket_cnct_n: a Go string carries its length). The driver resolves host
// names. h.Received and h.Disconnected serve the socket; user is its user
// value. If the driver died, the call waits (within ctx) for it to be back.
func (i *Interface) Connect(ctx context.Context, host string, port int, h Handlers, user any) (*Socket, error) {
	g, err := i.current(ctx)
	if err != nil {
		return nil, err
	}
	id, err := g.driver.Connect(ctx, sdk.ConnectRequest{Host: host, Port: port})
	if err != nil {
		return nil, err
	}
	return i.adopt(ctx, g, id, false, h, user)
}

// ConnectURL opens a client socket to the host and port of a URL, Dooba's
// socket_cnct_u: tcp://host:port, or a known scheme (http, https, mqtt, ws,
// ...) with its default port (design rule 10).
func (i *Interface) ConnectURL(ctx context.Context, rawURL string, h Handlers, user any) (*Socket, error) {
	host, port, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return i.Connect(ctx, host, port, h, user)
}

// Listen opens a server socket on a local port, Dooba's socket_lstn. Each
// accepted socket inherits h and user, and h.Connected runs for it first.
func (i *Interface) Listen(ctx context.Context, port int, h Handlers, user any) (*Socket, error) {
	g, err := i.current(ctx)
	if err != nil {
		return nil, err
	}
	if !g.info.CanListen {
		return nil, sdk.Errorf(sdk.ErrUnsupported, "interface %s (driver %s) cannot listen", i.name, i.driver)
	}
	id, err := g.driver.Listen(ctx, sdk.ListenRequest{Port: port})
	if err != nil {
		return nil, err
	}
	return i.adopt(ctx, g, id, true, h, user)
}

// adopt registers a socket the driver just made.
func (i *Interface) adopt(ctx context.Context, g *generation, id sdk.Socket, listener bool, h Handlers, user any) (*Socket, error) {
	s := newSocket(g, id, listener, h, user)
	if !g.register(s) {
		_ = g.driver.CloseSocket(context.WithoutCancel(ctx), id)
		err := sdk.Errorf(sdk.ErrDriverExited, "interface %s: the driver stopped", i.name)
		if st, _ := i.State(); st == Closed {
			err = sdk.Errorf(sdk.ErrClosed, "interface %s is closed", i.name)
		}
		return nil, err
	}
	return s, nil
}
