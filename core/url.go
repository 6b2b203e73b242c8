package core

import (
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ifsock/ifsock/sdk"
)

// DefaultPorts maps the URL schemes ConnectURL knows to their default
// ports. "tcp" has none: a tcp URL must name its port.
var DefaultPorts = map[string]int{
	"http": 80, "https": 443, "ws": 80, "wss": 443,
	"mqtt": 1883, "mqtts": 8883, "ftp": 21, "ssh": 22, "telnet": 23,
	"smtp": 25, "pop3": 110, "imap": 143, "irc": 6667, "redis": 6379,
	"amqp": 5672, "nats": 4222, "gopher": 70,
}

// maxHost is the longest host a URL may name: a DNS name has at most 253
// bytes, and an IPv6 address with its zone is shorter.
const maxHost = 253

// ParseURL returns the host and port a connect by URL goes to (design rule
// 10): tcp://host:port, or a known scheme with its default port; an
// explicit port wins. An IPv6 address is written in brackets,
// tcp://[2001:db8::1]:4444, and comes back without them. A URL without a
// usable host or port, or with an IPv6 address not in brackets, is
// ErrBadArgument.
func ParseURL(raw string) (host string, port int, err error) {
	s := strings.TrimSpace(raw)
	bad := func(format string, args ...any) error {
		return sdk.Errorf(sdk.ErrBadArgument, "url %s: "+format, append([]any{QuoteInput(raw)}, args...)...)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !validScheme(scheme) {
		return "", 0, bad("want scheme://host[:port], such as tcp://127.0.0.1:4444")
	}
	scheme = strings.ToLower(scheme)
	_, hasDefault := DefaultPorts[scheme]

	// Split the authority by hand first: url.Parse takes the last colon of
	// an unbracketed IPv6 address for the port's, and its errors echo the
	// whole input.
	authority := rest
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	var hostPart, portPart string
	hasPort := false
	if inner, ok := strings.CutPrefix(authority, "["); ok {
		end := strings.IndexByte(inner, ']')
		if end < 0 {
			return "", 0, bad("no ] closes the IPv6 address: write %s", ipv6Advice(scheme, "2001:db8::1", hasDefault))
		}
		hostPart = inner[:end]
		zoned, uerr := url.PathUnescape(hostPart) // a zone is written %25
		if a, err := netip.ParseAddr(zoned); uerr != nil || err != nil || !a.Is6() {
			if hostPart == "" {
				return "", 0, bad("no host")
			}
			return "", 0, bad("brackets are for IPv6 addresses, not %s: write it without them", QuoteInput(hostPart))
		}
		if after := inner[end+1:]; after != "" {
			p, ok := strings.CutPrefix(after, ":")
			if !ok {
				return "", 0, bad("want :PORT after the ], such as %s", ipv6Advice(scheme, "2001:db8::1", false))
			}
			portPart, hasPort = p, true
		}
	} else if strings.Count(authority, ":") > 1 {
		return "", 0, bad("an IPv6 address must be in brackets: %s", unbracketedAdvice(scheme, authority, hasDefault))
	} else {
		hostPart, portPart, hasPort = strings.Cut(authority, ":")
	}
	if len(hostPart) > maxHost {
		return "", 0, bad("host %s is too long: a host has at most %d bytes", QuoteInput(hostPart), maxHost)
	}
	if hasPort {
		if portPart == "" {
			return "", 0, bad("empty port: write the port after the colon, or leave the colon out")
		}
		n, err := strconv.Atoi(portPart)
		if err != nil || strings.TrimLeft(portPart, "0123456789") != "" {
			return "", 0, bad("port %s: want a number from 1 to 65535", QuoteInput(portPart))
		}
		if n < 1 || n > 65535 {
			return "", 0, bad("port %s is out of range 1-65535", QuoteInput(portPart))
		}
		port = n
	}

	// url.Parse checks the rest (escapes, characters) and unescapes the
	// host (an IPv6 zone is written %25).
	u, perr := url.Parse(s)
	if perr != nil {
		var ue *url.Error
		if errors.As(perr, &ue) {
			perr = ue.Err
		}
		return "", 0, bad("%s", shorten(perr.Error()))
	}
	host = u.Hostname()
	if host == "" {
		return "", 0, bad("no host")
	}
	if !strings.HasPrefix(authority, "[") {
		if i := strings.IndexFunc(host, notInHostName); i >= 0 {
			_, size := utf8.DecodeRuneInString(host[i:])
			return "", 0, bad("host %s: a host is a name or an IP address, without %q", QuoteInput(host), host[i:i+size])
		}
	}
	if hasPort {
		return host, port, nil
	}
	n, ok := DefaultPorts[scheme]
	if !ok {
		return "", 0, bad("scheme %s has no default port: write the port", QuoteInput(scheme))
	}
	return host, n, nil
}

// validScheme reports whether s is a URL scheme: a letter, then letters,
// digits, '+', '-' and '.'.
func validScheme(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !('0' <= c && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// notInHostName reports whether r cannot be part of a host name or an IPv4
// address (url.Parse lets sub-delimiters such as ',' and ']' through).
// Letters beyond ASCII are kept for internationalized names.
func notInHostName(r rune) bool {
	if r >= utf8.RuneSelf {
		return r == utf8.RuneError || !unicode.IsPrint(r)
	}
	return !isLetter(byte(r)) && !('0' <= r && r <= '9') && r != '-' && r != '.' && r != '_'
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// ipv6Advice writes addr as a URL should: scheme://[addr]:PORT, with the
// port optional when the scheme has a default one.
func ipv6Advice(scheme, addr string, optionalPort bool) string {
	port := ":PORT"
	if optionalPort {
		port = "[:PORT]"
	}
	return scheme + "://[" + addr + "]" + port
}

// unbracketedAdvice says how to write the unbracketed IPv6 address of
// authority, which ends with a port or not: both readings are offered
// when both are addresses.
func unbracketedAdvice(scheme, authority string, hasDefault bool) string {
	if len(authority) > quotePrefix {
		return "write it as " + ipv6Advice(scheme, "2001:db8::1", hasDefault)
	}
	advice := "write " + ipv6Advice(scheme, authority, hasDefault)
	i := strings.LastIndexByte(authority, ':')
	addr, p := authority[:i], authority[i+1:]
	if a, err := netip.ParseAddr(addr); err == nil && a.Is6() && p != "" && strings.TrimLeft(p, "0123456789") == "" {
		advice += ", or " + scheme + "://[" + addr + "]:" + p + " if " + p + " is the port"
	}
	return advice
}

// shorten cuts a message from a parser that may echo its input.
func shorten(msg string) string {
	const max = 2 * quotePrefix
	if len(msg) <= max {
		return msg
	}
	cut := max
	for cut > max-utf8.UTFMax && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}
