package hostnet

import (
	"net"
	"testing"

	"github.com/ifsock/ifsock/sdk"
)

// TestListenPortZeroAndLocal: Listen on port 0 lets the OS pick the port,
// Local reports it, and a connected socket's Local is the OS's.
func TestListenPortZeroAndLocal(t *testing.T) {
	d, _ := open(t, newRecorder(), nil)
	l, port := listenZero(t, d)
	c, err := d.Connect(ctxT(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	la, _ := d.Local(ctxT(t), l)
	if la.String() != hostPort("127.0.0.1", port) {
		t.Errorf("Local(listener) = %v, want 127.0.0.1:%d", la, port)
	}
	cl, err := d.Local(ctxT(t), c)
	s, _ := d.sess.lookup("test", c)
	if want := s.conn.LocalAddr().(*net.TCPAddr).AddrPort(); err != nil || cl != want {
		t.Errorf("Local(client) = %v, %v; the OS says %v", cl, err, want)
	}
}
