package hostnet_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/ifsock/ifsock/plugins/hostnet"
	"github.com/ifsock/ifsock/sdk"
)

// events is a tiny host: it echoes what accepted sockets receive and hands
// what the client socket receives to a channel.
type events struct {
	d        *hostnet.Driver
	accepted sync.Map // sdk.Socket -> true; events of different sockets run concurrently
	client   chan string
}

func (e *events) Accepted(_, s sdk.Socket, _ netip.AddrPort) { e.accepted.Store(s, true) }

func (e *events) Received(s sdk.Socket, data []byte) error {
	if _, ok := e.accepted.Load(s); ok {
		return e.d.Send(context.Background(), s, data) // echo, from inside the callback
	}
	e.client <- string(data)
	return nil
}

func (e *events) Finished(sdk.Socket) {}

func (e *events) Dropped(sdk.Socket, error) {}

// A driver listening on 127.0.0.1 and connecting to itself.
func Example() {
	ctx := context.Background()
	d := hostnet.New()
	ev := &events{d: d, client: make(chan string, 1)}
	if _, err := d.Open(ctx, sdk.OpenRequest{Interface: "eth0", Events: ev}); err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close(ctx)

	ln, _ := net.Listen("tcp", "127.0.0.1:0") // find a free port
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if _, err := d.Listen(ctx, sdk.ListenRequest{Port: port}); err != nil {
		fmt.Println(err)
		return
	}
	s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "127.0.0.1", Port: port})
	if err != nil {
		fmt.Println(err)
		return
	}
	d.Send(ctx, s, []byte("hello"))
	fmt.Println(<-ev.client)
	// Output: hello
}
