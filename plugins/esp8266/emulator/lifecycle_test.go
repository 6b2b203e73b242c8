package emulator

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

func TestServeErrors(t *testing.T) {
	emu, err := New(Config{Baud: fastBaud})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Serve(context.Background(), nil); err == nil {
		t.Fatal("Serve(nil) succeeded")
	}

	host, dev := net.Pipe()
	served := make(chan error, 1)
	go func() { served <- emu.Serve(context.Background(), dev) }()
	buf := make([]byte, 9)
	if _, err := io.ReadFull(host, buf); err != nil || string(buf) != "\r\nready\r\n" {
		t.Fatalf("boot: %q %v", buf, err)
	}
	if err := emu.Serve(context.Background(), dev); err == nil {
		t.Fatal("a second concurrent Serve was accepted")
	}
	// The stream ending ends Serve.
	host.Close()
	select {
	case err := <-served:
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("Serve returned %v, want a stream error", err)
		}
	case <-time.After(waitTime):
		t.Fatal("Serve did not return when the stream closed")
	}
}

// TestServeStopsGoroutines checks that every goroutine and socket of a busy
// session (links, server, data flowing, async command pending) ends with
// Serve.
func TestServeStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	p := newPeer(t)
	var c, sc net.Conn
	var srv net.Addr
	t.Run("session", func(t *testing.T) {
		r := start(t, Config{Joined: true, AnyHostPort: true, Latency: time.Second})
		r.expect(joined22)
		r.cmd("AT+CIPMUX=1", "\r\nOK\r\n")
		r.cmd("AT+CIPSERVER=1,333", "\r\nOK\r\n")
		srv = r.emu.ServerAddr()
		sc = dialServer(t, r.emu)
		r.expect("0,CONNECT\r\n")
		r.send(startLine(1, "127.0.0.1", p.port()) + "\r\n")
		c = p.accept()
		r.until("1,CONNECT\r\n\r\nOK\r\n")
		go sc.Write(make([]byte, 100000))
		r.send("AT+CIPCLOSE=1\r\n") // pending for a second at shutdown
	})
	expectEOF(t, c)
	expectEOF(t, sc)
	if conn, err := net.DialTimeout("tcp4", srv.String(), time.Second); err == nil {
		conn.Close()
		t.Fatal("server still listening after Serve returned")
	}
	c.Close()
	sc.Close()
	deadline := time.Now().Add(waitTime)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nopRW is a serial stream that is never read or written in FuzzFeed.
type nopRW struct{}

func (nopRW) Read([]byte) (int, error)    { return 0, io.EOF }
func (nopRW) Write(b []byte) (int, error) { return len(b), nil }

// FuzzFeed runs arbitrary bytes through both receive state machines and the
// command handlers. The module is not joined, so no host is ever dialled.
func FuzzFeed(f *testing.F) {
	for _, seed := range []string{
		"AT\r\n", "xyAT+GMR\r\n", "ATE0\r\nAT\r\n", "\r\n", "at\r\n", "AT\n",
		"AT+CIPMUX=1\r\nAT+CIPSEND=0,5\r\nhello",
		"AT+CIPSTART=0,\"TCP\",\"127.0.0.1\",1\r\n",
		"AT+CWJAP=\"a\\\"b\",\"p\\,w\"\r\nAT\r\n",
		"AT+CIPRECVDATA=0,10\r\nAT+CIPRECVLEN?\r\n",
		"AT+UART_CUR=9600,8,1,0,0\r\nAT+CIPCLOSE=5\r\nAT+RST\r\nAT\r\n",
		"AT+CIPSTO=0\r\nAT+CIPDINFO=1\r\nAT+CIPSERVERMAXCONN=9\r\n",
	} {
		f.Add(false, []byte(seed))
		f.Add(true, []byte(seed))
	}
	f.Fuzz(func(t *testing.T, v1 bool, in []byte) {
		fw := Firmware22
		if v1 {
			fw = Firmware17
		}
		e, err := New(Config{Firmware: fw, Baud: fastBaud, PortOffset: -333})
		if err != nil {
			t.Fatal(err)
		}
		s := newSession(e, nopRW{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s.ctx = ctx
		s.opCtx, s.opCancel = context.WithCancel(ctx)
		s.powerUp()
		s.feed(in)
		s.shutdown()
	})
}

func FuzzParseArgs(f *testing.F) {
	for _, seed := range []string{`0,"TCP","example.org",80`, `"a\"b","p\,w"`, `1,`, `""`, `"x`, `a"b`, `"a"b`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := parseArgs(s)
		if err != nil {
			return
		}
		// Re-encoding the parsed arguments parses to the same thing.
		enc := ""
		for i, a := range args {
			if i > 0 {
				enc += ","
			}
			if a.quoted {
				enc += `"` + atQuote(a.s) + `"`
			} else {
				enc += a.s
			}
		}
		again, err := parseArgs(enc)
		if err != nil || len(again) != len(args) {
			t.Fatalf("%q -> %q: %v", s, enc, err)
		}
		for i := range args {
			if again[i] != args[i] {
				t.Fatalf("%q -> %q: arg %d %v != %v", s, enc, i, again[i], args[i])
			}
		}
	})
}

func TestParseArgs(t *testing.T) {
	args, err := parseArgs(`0,"TCP","a\"b\,c",80,`)
	if err != nil {
		t.Fatal(err)
	}
	want := []arg{{"0", false}, {"TCP", true}, {`a"b,c`, true}, {"80", false}, {"", false}}
	if len(args) != len(want) {
		t.Fatalf("got %v", args)
	}
	for i := range want {
		if args[i] != want[i] {
			t.Fatalf("arg %d = %v, want %v", i, args[i], want[i])
		}
	}
	for _, bad := range []string{`"open`, `"a"b`, `a"b`} {
		if _, err := parseArgs(bad); err == nil {
			t.Errorf("parseArgs(%q) succeeded", bad)
		}
	}
}
