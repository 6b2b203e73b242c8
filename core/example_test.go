package core_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/plugins/builtin"
	"github.com/ifsock/ifsock/sdk"
)

// The examples run the built-in drivers as plugin processes of the test
// binary: its TestMain calls core.ServeBuiltin first, as a host's main
// must.

// exampleHost starts a host with the default interfaces, lo0 and eth0.
func exampleHost() *core.Host {
	h, err := core.New(core.Config{Builtins: builtin.Drivers})
	if err != nil {
		log.Fatal(err)
	}
	return h
}

// Code that speaks net moves to an interface by swapping net.Listen for
// NetListen and the dialer for DialContext: here an http.Server and an
// http.Client, both on lo0. Port 0 lets the driver pick a free port, and
// the listener's Addr is a *net.TCPAddr that a URL can be built from.
func Example_http() {
	h := exampleHost()
	defer h.Close()
	lo0, err := h.Interface("lo0")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ln, err := lo0.NetListen(ctx, 0)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.Host)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	// http.Transport takes any func(ctx, network, addr) as its dialer.
	client := &http.Client{Transport: &http.Transport{DialContext: lo0.DialContext}}
	url := "http://" + ln.Addr().String() + "/"
	resp, err := client.Get(url)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status)
	fmt.Println(string(body) == "hello from "+ln.Addr().String())
	fmt.Println("listening on", ln.Interface().Name())
	// Output:
	// 200 OK
	// true
	// listening on lo0
}

// A net.Conn of an interface has real addresses: code that asserts
// *net.TCPAddr works unchanged.
func ExampleInterface_DialContext() {
	h := exampleHost()
	defer h.Close()
	lo0, _ := h.Interface("lo0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ln, err := lo0.NetListen(ctx, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c) // echo
			c.Close()
		}
	}()

	conn, err := lo0.DialContext(ctx, "tcp4", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.TCPAddr)
	remote := conn.RemoteAddr().(*net.TCPAddr)
	fmt.Println(local.IP, local.Port != 0)
	fmt.Println(remote.Port == ln.Addr().(*net.TCPAddr).Port)
	conn.Write([]byte("ping"))
	buf := make([]byte, 4)
	io.ReadFull(conn, buf)
	fmt.Println(string(buf))
	// Output:
	// 127.0.0.1 true
	// true
	// ping
}

// Errors match what Go code written for net checks: the errno of package
// syscall as well as the sentinel of package sdk.
func ExampleInterface_DialContext_errors() {
	h := exampleHost()
	defer h.Close()
	lo0, _ := h.Interface("lo0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := lo0.DialContext(ctx, "tcp", "127.0.0.1:9")
	fmt.Println(err)
	fmt.Println(errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, sdk.ErrRefused))
	_, err = lo0.DialContext(ctx, "udp", "127.0.0.1:9")
	fmt.Println(errors.Is(err, sdk.ErrUnsupported))
	// Output:
	// dial tcp 127.0.0.1:9: connect: nothing listens on port 9: connection refused: check that something listens on that host and port
	// true true
	// true
}

// The reactive API, Dooba's: the framework calls the handlers back when a
// peer connects, when data arrives and when the peer drops a socket.
func ExampleInterface_Listen() {
	h := exampleHost()
	defer h.Close()
	lo0, _ := h.Interface("lo0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A server that answers each message in upper case.
	l, err := lo0.Listen(ctx, 0, core.Handlers{
		Received: func(s *core.Socket, data []byte) {
			s.Send([]byte(fmt.Sprintf("%s!", data)))
		},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	addr, _ := l.Local()

	got := make(chan string, 1)
	c, err := lo0.Connect(ctx, "127.0.0.1", int(addr.Port()), core.Handlers{
		Received: func(s *core.Socket, data []byte) { got <- string(data) },
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Send([]byte("hello"))
	fmt.Println(<-got)
	// Output:
	// hello!
}
