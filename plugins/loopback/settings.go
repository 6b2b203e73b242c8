package loopback

import (
	"math"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// The settings the loopback driver knows. Any other key is rejected at Open.
const (
	// SettingMaxSockets is how many sockets the driver holds at once,
	// listeners and both ends of every connection included (default 1024:
	// the loopback has no hardware limit; 1024 lets a real server test run).
	SettingMaxSockets = "max_sockets"
	// SettingBuffer is each socket's inbound window in bytes: data sent to a
	// socket and not yet consumed by its Received handler (default 256 KiB).
	// A Send to a socket whose window is full blocks until room frees.
	SettingBuffer = "buffer"
	// SettingRefuse, a boolean, makes every Connect fail with ErrRefused.
	SettingRefuse = "refuse"
	// SettingDelay is a duration waited before each delivery of data.
	SettingDelay = "delay"
	// SettingDropAfter, in bytes, drops a socket with ErrReset once it has
	// received that many bytes (0, the default, never does).
	SettingDropAfter = "drop_after"
)

// Defaults of the settings.
const (
	DefaultMaxSockets = 1024
	DefaultBuffer     = 256 << 10
)

// maxDelivery is the most data one Received call carries.
const maxDelivery = 64 << 10

// config is the parsed form of the driver's settings.
type config struct {
	maxSockets int
	buffer     int
	refuse     bool
	delay      time.Duration
	dropAfter  int64
}

// parseSettings validates s, rejecting unknown keys, and fills in defaults.
func parseSettings(s sdk.Settings) (config, error) {
	var c config
	if err := s.Check(Name, SettingMaxSockets, SettingBuffer, SettingRefuse, SettingDelay, SettingDropAfter); err != nil {
		return c, err
	}
	var err error
	if c.maxSockets, err = s.Int(SettingMaxSockets, DefaultMaxSockets, 1, 65535); err != nil {
		return c, err
	}
	if c.buffer, err = s.Int(SettingBuffer, DefaultBuffer, 1, 1<<30); err != nil {
		return c, err
	}
	if c.refuse, err = s.Bool(SettingRefuse, false); err != nil {
		return c, err
	}
	if c.delay, err = s.Duration(SettingDelay, 0); err != nil {
		return c, err
	}
	dropAfter, err := s.Int(SettingDropAfter, 0, 0, math.MaxInt)
	if err != nil {
		return c, err
	}
	c.dropAfter = int64(dropAfter)
	return c, nil
}
