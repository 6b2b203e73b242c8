package hostnet

import (
	"net/netip"
	"strings"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// The settings hostnet accepts, with their defaults. See the package
// documentation for what each one means.
const (
	SettingBind           = "bind"            // listen address, default 127.0.0.1
	SettingConnectTimeout = "connect_timeout" // default 10s
	SettingMaxSockets     = "max_sockets"     // default 1024, listeners included
	SettingReadSize       = "read_size"       // bytes per read, default 131072
	SettingKeepalive      = "keepalive"       // TCP keep-alive period, default 15s, "off" disables
	SettingNoDelay        = "nodelay"         // TCP_NODELAY, default true
)

// Defaults of the settings.
const (
	DefaultBind           = "127.0.0.1"
	DefaultConnectTimeout = 10 * time.Second
	DefaultMaxSockets     = 1024
	// DefaultReadSize is the largest read, the data path's largest frame
	// (128 KiB): fewer, larger frames cost less per byte. A socket's buffer
	// starts at 4 KiB and grows only while reads fill it.
	DefaultReadSize  = 128 << 10
	DefaultKeepalive = 15 * time.Second
	DefaultNoDelay   = true
)

var knownSettings = []string{
	SettingBind, SettingConnectTimeout, SettingMaxSockets,
	SettingReadSize, SettingKeepalive, SettingNoDelay,
}

// config is the validated form of the settings.
type config struct {
	bind           netip.Addr
	connectTimeout time.Duration
	maxSockets     int
	readSize       int
	keepalive      time.Duration // negative: disabled
	noDelay        bool
}

func parseSettings(s sdk.Settings) (config, error) {
	var c config
	if err := s.Check(driverName, knownSettings...); err != nil {
		return c, err
	}
	bind := strings.TrimSpace(s.String(SettingBind, DefaultBind))
	bind = strings.TrimSuffix(strings.TrimPrefix(bind, "["), "]")
	a, err := netip.ParseAddr(bind)
	if err != nil || a.Zone() != "" {
		return c, sdk.Errorf(sdk.ErrBadArgument,
			"setting bind=%q: want an IPv4 or IPv6 address of this host, such as 127.0.0.1, 0.0.0.0 or ::", s[SettingBind])
	}
	c.bind = a
	if c.connectTimeout, err = s.Duration(SettingConnectTimeout, DefaultConnectTimeout); err != nil {
		return c, err
	}
	if c.maxSockets, err = s.Int(SettingMaxSockets, DefaultMaxSockets, 1, 1<<20); err != nil {
		return c, err
	}
	if c.readSize, err = s.Int(SettingReadSize, DefaultReadSize, 1, 1<<20); err != nil {
		return c, err
	}
	switch v := strings.ToLower(strings.TrimSpace(s[SettingKeepalive])); v {
	case "off", "0", "false", "no":
		c.keepalive = -1
	default:
		if c.keepalive, err = s.Duration(SettingKeepalive, DefaultKeepalive); err != nil {
			return c, sdk.Errorf(sdk.ErrBadArgument,
				"setting keepalive=%q: want a positive duration such as 15s, or off", s[SettingKeepalive])
		}
	}
	if c.noDelay, err = s.Bool(SettingNoDelay, DefaultNoDelay); err != nil {
		return c, err
	}
	return c, nil
}
