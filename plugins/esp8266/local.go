package esp8266

import (
	"context"
	"errors"
	"net/netip"
	"strings"

	"github.com/ifsock/ifsock/sdk"
)

// Local returns the local address of a socket (design rule 12): the
// module's station IP (AT+CIFSR at bring-up, asked again while the module
// had none) with, for the listener and the sockets it accepted, the
// server's port (the one Listen picked for port 0), and for a link the
// module opened its own local port, which AT+CIPSTATUS reports in both
// dialects (asked once per socket, at its first Local). A link the module no
// longer lists (it is closing) reports port 0; the address is 0.0.0.0 while
// the module has no IP address. Errors: ErrClosed for a socket that is not
// open, ErrTimeout or ErrCanceled when ctx ends first, ErrDevice.
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
	default:
		port = sk.lport
	}
	s.mu.Unlock()
	if !ip.IsValid() || ip.IsUnspecified() {
		ip = s.station(ctx)
	}
	if port == 0 && !sk.listener && sk.parent == nil {
		if port, err = s.localPort(ctx, sk); err != nil {
			return netip.AddrPort{}, err
		}
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

// localPort learns a connected link's local port from AT+CIPSTATUS, and
// keeps it. A link the module no longer lists gives 0.
func (s *session) localPort(ctx context.Context, sk *socket) (int, error) {
	_, lport, err := s.linkStatus(ctx, sk.link, "local port")
	s.mu.Lock()
	defer s.mu.Unlock()
	if sk.gone {
		return 0, sdk.Errorf(sdk.ErrClosed, "local address: %s is not open", sk.id)
	}
	if err != nil {
		if errors.Is(err, sdk.ErrClosed) {
			s.log.Debug("the module does not list the link of a socket: its local port is unknown", "socket", sk.id, "link", sk.link)
			return 0, nil
		}
		return 0, err
	}
	sk.lport = lport
	return lport, nil
}

// station returns the module's station IP, asking AT+CIFSR when bring-up
// learned none (the module joined its network later); 0.0.0.0 when it still
// has none or cannot say.
func (s *session) station(ctx context.Context) netip.Addr {
	rep, err := s.do(ctx, &request{line: "AT+CIFSR"})
	if err == nil && rep.ok() {
		if l, ok := rep.hasLine("+CIFSR:STAIP,"); ok {
			if ip, err := netip.ParseAddr(strings.Trim(l[len("+CIFSR:STAIP,"):], `"`)); err == nil && ip.Is4() && !ip.IsUnspecified() {
				s.mu.Lock()
				s.stationIP = ip
				s.mu.Unlock()
				return ip
			}
		}
	}
	return netip.IPv4Unspecified()
}
