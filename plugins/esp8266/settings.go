package esp8266

import (
	"strings"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// The settings the esp8266 driver accepts. See the package documentation for
// what each one means and its default.
const (
	SettingPort     = "port"     // serial device, required unless a port was injected (NewOnPort)
	SettingBaud     = "baud"     // default 115200
	SettingSSID     = "ssid"     // WiFi network to join; empty: keep the module's own
	SettingPassword = "password" // WiFi password; never logged
	SettingJoin     = "join"     // default true: join ssid unless the module is on it already
	SettingFirmware = "firmware" // auto (default), 1.7 or 2.2
	SettingTrace    = "trace"    // default false: log every byte on the wire
	SettingPassive  = "passive"  // auto (default), on, off: passive receive mode
	SettingBuffer   = "buffer"   // bytes held per socket between the module and the host, default 16384
	SettingTimeout  = "timeout"  // answer timeout of one AT command, default 10s
)

var knownSettings = []string{
	SettingPort, SettingBaud, SettingSSID, SettingPassword, SettingJoin, SettingFirmware,
	SettingTrace, SettingPassive, SettingBuffer, SettingTimeout,
}

// Defaults of the settings.
const (
	DefaultBaud    = 115200
	DefaultBuffer  = 16384
	DefaultTimeout = 10 * time.Second
)

type config struct {
	port     string
	baud     int
	ssid     string
	password string
	join     bool
	firmware string // "auto", "1.7", "2.2"
	trace    bool
	passive  string // "auto", "on", "off"
	buffer   int
	timeout  time.Duration
}

// parseSettings validates s. injected tells that the caller gave a port, so
// the port setting is not required.
func parseSettings(s sdk.Settings, injected bool) (config, error) {
	if err := s.Check(driverName, knownSettings...); err != nil {
		return config{}, err
	}
	c := config{
		port:     strings.TrimSpace(s.String(SettingPort, "")),
		ssid:     s.String(SettingSSID, ""),
		password: s.String(SettingPassword, ""),
		firmware: strings.ToLower(strings.TrimSpace(s.String(SettingFirmware, "auto"))),
		passive:  strings.ToLower(strings.TrimSpace(s.String(SettingPassive, "auto"))),
	}
	var err error
	if c.baud, err = s.Int(SettingBaud, DefaultBaud, 300, 4608000); err != nil {
		return config{}, err
	}
	if c.join, err = s.Bool(SettingJoin, true); err != nil {
		return config{}, err
	}
	if c.trace, err = s.Bool(SettingTrace, false); err != nil {
		return config{}, err
	}
	if c.buffer, err = s.Int(SettingBuffer, DefaultBuffer, 512, 16<<20); err != nil {
		return config{}, err
	}
	if c.timeout, err = s.Duration(SettingTimeout, DefaultTimeout); err != nil {
		return config{}, err
	}
	switch c.firmware {
	case "auto", "1.7", "2.2":
	default:
		return config{}, sdk.Errorf(sdk.ErrBadArgument, "setting %s=%q: want auto, 1.7 (NonOS AT 1.x) or 2.2 (ESP-AT 2.x)", SettingFirmware, c.firmware)
	}
	switch c.passive {
	case "auto", "on", "off":
	default:
		if b, err := s.Bool(SettingPassive, false); err == nil {
			c.passive = map[bool]string{true: "on", false: "off"}[b]
		} else {
			return config{}, sdk.Errorf(sdk.ErrBadArgument, "setting %s=%q: want auto, on or off", SettingPassive, c.passive)
		}
	}
	if c.port == "" && !injected {
		return config{}, sdk.Errorf(sdk.ErrBadArgument, "driver %s: setting %s is required: the serial device of the module, such as port=/dev/ttyUSB0", driverName, SettingPort)
	}
	if strings.ContainsAny(c.ssid+c.password, "\r\n\x00") {
		return config{}, sdk.Errorf(sdk.ErrBadArgument, "settings %s and %s must not contain line breaks or NUL bytes", SettingSSID, SettingPassword)
	}
	return c, nil
}
