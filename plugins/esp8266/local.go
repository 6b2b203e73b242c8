package esp8266

import (
	"context"
	"net/netip"

	"ifsock/sdk"
)

// Local returns the local address of a socket: the module's station IP
// (AT+CIFSR at bring-up; 0.0.0.0 if the module had none) with, for the
// listener and the sockets it accepted, the server's port. The local port of
// a link the module opened is not known to the driver yet (AT+CIPSTATUS
// reports it on firmware that has the field): it is 0.
func (d *Driver) Local(ctx context.Context, id sdk.Socket) (netip.AddrPort, error) {
	s, err := d.session("local address")
	if err != nil {
		return netip.AddrPort{}, err
	}
	sk, err := s.lookup("local address", id)
	if err != nil {
		return netip.AddrPort{}, err
	}
	s.mu.Lock()
	ip := s.stationIP
	port := 0
	switch {
	case sk.listener:
		port = sk.port
	case sk.parent != nil:
		port = sk.parent.port
	}
	s.mu.Unlock()
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}
