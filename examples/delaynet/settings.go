package delaynet

import (
	"net/netip"
	"strings"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// guide:settings

// The settings delaynet knows. Any other key is rejected at Open.
const (
	SettingDelay      = "delay"       // one-way latency of every chunk, default 0
	SettingRate       = "rate"        // bytes per second per direction, default 0 (unlimited)
	SettingBind       = "bind"        // address Listen binds, default 127.0.0.1
	SettingMaxSockets = "max_sockets" // sockets held at once, listeners included, default 64
)

// Defaults and bounds of the settings.
const (
	DefaultBind       = "127.0.0.1"
	DefaultMaxSockets = 64
	MaxDelay          = time.Minute
)

// config is the validated form of the settings.
type config struct {
	delay      time.Duration
	rate       int // bytes per second, 0: unlimited
	bind       netip.Addr
	maxSockets int
}

// parseSettings validates s: an unknown key or a bad value is an
// sdk.ErrBadArgument that names the setting and says what is accepted.
func parseSettings(s sdk.Settings) (config, error) {
	var c config
	if err := s.Check(Name, SettingDelay, SettingRate, SettingBind, SettingMaxSockets); err != nil {
		return c, err
	}
	var err error
	if c.delay, err = delaySetting(s); err != nil {
		return c, err
	}
	if c.rate, err = s.Int(SettingRate, 0, 0, 1<<30); err != nil {
		return c, err
	}
	if c.maxSockets, err = s.Int(SettingMaxSockets, DefaultMaxSockets, 1, 65535); err != nil {
		return c, err
	}
	bind := strings.Trim(strings.TrimSpace(s.String(SettingBind, DefaultBind)), "[]")
	if c.bind, err = netip.ParseAddr(bind); err != nil || c.bind.Zone() != "" {
		return c, sdk.Errorf(sdk.ErrBadArgument,
			"setting bind=%q: want an IP address of this host, such as 127.0.0.1, ::1 or 0.0.0.0", s[SettingBind])
	}
	return c, nil
}

// delaySetting reads the delay setting. Settings.Duration wants a positive
// duration; a delay may also be 0 (no delay), so a zero value is read here.
func delaySetting(s sdk.Settings) (time.Duration, error) {
	if d, err := time.ParseDuration(strings.TrimSpace(s[SettingDelay])); err == nil && d == 0 {
		return 0, nil
	}
	d, err := s.Duration(SettingDelay, 0)
	if err != nil || d > MaxDelay {
		return 0, sdk.Errorf(sdk.ErrBadArgument,
			"setting delay=%q: want a duration from 0 to %v, such as 20ms", s[SettingDelay], MaxDelay)
	}
	return d, nil
}

// guide:end
