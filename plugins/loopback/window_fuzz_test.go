package loopback_test

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/ifsock/ifsock/plugins/loopback"
	"github.com/ifsock/ifsock/sdk"
)

// FuzzWindow sends data cut at arbitrary places through a window of
// arbitrary size and checks that it arrives whole and in order, however the
// window splits and joins it.
func FuzzWindow(f *testing.F) {
	f.Add(uint8(1), []byte("hello, world"), []byte{3, 1, 7})
	f.Add(uint8(16), bytes.Repeat([]byte{0xff, 0, '\r', '\n'}, 100), []byte{200, 1, 0, 33})
	f.Add(uint8(255), []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, window uint8, data, cuts []byte) {
		d, r := open(t, sdk.Settings{loopback.SettingBuffer: strconv.Itoa(int(window) + 1)})
		_, c, a := connect(t, d, r, 80)
		sctx := ctx(t)
		sent := make(chan error, 1)
		go func() { // the window may be smaller than data: Send waits for the reader below
			rest := data
			for _, cut := range cuts {
				n := min(int(cut), len(rest))
				if err := d.Send(sctx, c, rest[:n]); err != nil {
					sent <- err
					return
				}
				rest = rest[n:]
			}
			sent <- d.Send(sctx, c, rest)
		}()
		var got []byte
		for len(got) < len(data) {
			ev := r.next(t)
			if ev.kind != "received" || ev.sock != a || len(ev.data) == 0 {
				t.Fatalf("unexpected event %+v", ev)
			}
			got = append(got, ev.data...)
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("received %q, sent %q", got, data)
		}
	})
}
