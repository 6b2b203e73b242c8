package loopback_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/ifsock/ifsock/plugins/loopback"
	"github.com/ifsock/ifsock/sdk"
)

// echoEvents is the host side of the example: accepted sockets echo what
// they receive, from inside Received; what the client receives goes to got.
type echoEvents struct {
	d        *loopback.Driver
	client   sdk.Socket
	accepted chan netip.AddrPort
	got      chan string
}

func (e *echoEvents) Accepted(_, _ sdk.Socket, peer netip.AddrPort) { e.accepted <- peer }

func (e *echoEvents) Received(s sdk.Socket, data []byte) error {
	if s == e.client {
		e.got <- string(data)
		return nil
	}
	return e.d.Send(context.Background(), s, data)
}

func (e *echoEvents) Finished(sdk.Socket) {}

func (e *echoEvents) Dropped(sdk.Socket, error) {}

// A listener whose accepted sockets echo, and a client talking to it, all
// inside one loopback driver.
func Example() {
	ctx := context.Background()
	d := loopback.New()
	ev := &echoEvents{d: d, accepted: make(chan netip.AddrPort, 1), got: make(chan string, 1)}
	if _, err := d.Open(ctx, sdk.OpenRequest{Interface: "lo0", Events: ev}); err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close(ctx)

	if _, err := d.Listen(ctx, sdk.ListenRequest{Port: 7}); err != nil {
		fmt.Println(err)
		return
	}
	c, err := d.Connect(ctx, sdk.ConnectRequest{Host: "localhost", Port: 7})
	if err != nil {
		fmt.Println(err)
		return
	}
	ev.client = c
	fmt.Println("accepted a client from", <-ev.accepted)

	if err := d.Send(ctx, c, []byte("hello")); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("echoed:", <-ev.got)
	peer, _ := d.Peer(ctx, c)
	fmt.Println("the client's peer:", peer)

	_, err = d.Connect(ctx, sdk.ConnectRequest{Host: "example.com", Port: 80})
	fmt.Println(err)
	// Output:
	// accepted a client from 127.0.0.1:49152
	// echoed: hello
	// the client's peer: 127.0.0.1:7
	// connect example.com: the loopback driver reaches only 127.0.0.1, localhost and ::1: host unreachable: check the address and the interface's link
}
