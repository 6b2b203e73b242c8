package core

import (
	"net/url"
	"strconv"
	"strings"

	"ifsock/sdk"
)

// DefaultPorts maps the URL schemes ConnectURL knows to their default
// ports. "tcp" has none: a tcp URL must name its port.
var DefaultPorts = map[string]int{
	"http": 80, "https": 443, "ws": 80, "wss": 443,
	"mqtt": 1883, "mqtts": 8883, "ftp": 21, "ssh": 22, "telnet": 23,
	"smtp": 25, "pop3": 110, "imap": 143, "irc": 6667, "redis": 6379,
	"amqp": 5672, "nats": 4222, "gopher": 70,
}

// ParseURL returns the host and port a connect by URL goes to (design rule
// 10): tcp://host:port, or a known scheme with its default port; an
// explicit port wins. A URL without a usable host or port is ErrBadArgument.
// IPv6 literals come back without brackets.
func ParseURL(raw string) (host string, port int, err error) {
	u, perr := url.Parse(strings.TrimSpace(raw))
	if perr != nil {
		return "", 0, sdk.Errorf(sdk.ErrBadArgument, "url %q: %v", raw, perr)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "" || u.Opaque != "" {
		return "", 0, sdk.Errorf(sdk.ErrBadArgument, "url %q: want scheme://host[:port], such as tcp://127.0.0.1:4444", raw)
	}
	host = u.Hostname()
	if host == "" {
		return "", 0, sdk.Errorf(sdk.ErrBadArgument, "url %q: no host", raw)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, sdk.Errorf(sdk.ErrBadArgument, "url %q: port %q is out of range 1-65535", raw, p)
		}
		return host, n, nil
	}
	if strings.HasSuffix(u.Host, ":") {
		return "", 0, sdk.Errorf(sdk.ErrBadArgument, "url %q: empty port", raw)
	}
	n, ok := DefaultPorts[scheme]
	if !ok {
		return "", 0, sdk.Errorf(sdk.ErrBadArgument, "url %q: scheme %q has no default port: write the port", raw, scheme)
	}
	return host, n, nil
}
