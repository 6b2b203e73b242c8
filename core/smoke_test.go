package core_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"ifsock/core"
)

func TestSmokeEchoThroughPlugin(t *testing.T) {
	h, err := core.New(core.Config{
		Interfaces: []core.IfaceConfig{{Name: "eth0", Driver: "hostnet"}},
		Builtins:   builtins,
		Logger:     hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: testWriter{t}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	eth, _ := h.Interface("eth0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lst, err := eth.Listen(ctx, 47311, core.Handlers{
		Received: func(s *core.Socket, data []byte) { _ = s.Send(data) },
	}, "srv")
	if err != nil {
		t.Fatal(err)
	}
	defer lst.Close()
	got := make(chan []byte, 16)
	c, err := eth.Connect(ctx, "127.0.0.1", 47311, core.Handlers{
		Received: func(s *core.Socket, data []byte) { got <- data },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	for len(buf) < 5 {
		select {
		case d := <-got:
			buf = append(buf, d...)
		case <-ctx.Done():
			t.Fatal("no echo")
		}
	}
	if !bytes.Equal(buf, []byte("hello")) {
		t.Fatalf("got %q", buf)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(bytes.TrimRight(p, "\n"))); return len(p), nil }
