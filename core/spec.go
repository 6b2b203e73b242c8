package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"ifsock/sdk"
)

// IfaceConfig defines one interface: its name, the driver that serves it and
// the driver's settings.
type IfaceConfig struct {
	Name     string       `json:"name"`
	Driver   string       `json:"driver"`
	Settings sdk.Settings `json:"settings,omitempty"`
}

// ErrBadConfig is the kind of every error in an interface definition or a
// config file; it matches sdk.ErrBadArgument too.
var ErrBadConfig = sdk.ErrBadArgument

var ifaceName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,14}$`)

// ValidName reports whether name is a usable interface name: lower case
// letters, digits, '-' and '_', starting with a letter, at most 15 bytes.
func ValidName(name string) bool { return ifaceName.MatchString(name) }

// ParseIfaceSpec parses the --iface flag's value NAME=DRIVER[,KEY=VALUE...].
// A comma or backslash inside a value is written \, or \\. A key ending in
// _env takes its value from the environment variable it names (for
// secrets): password_env=WIFI_PASSWORD sets password.
func ParseIfaceSpec(spec string) (IfaceConfig, error) {
	parts, err := splitEscaped(spec)
	if err != nil {
		return IfaceConfig{}, sdk.Errorf(ErrBadConfig, "--iface %q: %v", spec, err)
	}
	name, driver, ok := strings.Cut(parts[0], "=")
	if !ok || name == "" || driver == "" {
		return IfaceConfig{}, sdk.Errorf(ErrBadConfig, "--iface %q: want NAME=DRIVER[,KEY=VALUE...], such as lo0=loopback", spec)
	}
	cfg := IfaceConfig{Name: name, Driver: driver, Settings: sdk.Settings{}}
	for _, kv := range parts[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return IfaceConfig{}, sdk.Errorf(ErrBadConfig, "--iface %q: setting %q is not KEY=VALUE", spec, kv)
		}
		if _, dup := cfg.Settings[k]; dup {
			return IfaceConfig{}, sdk.Errorf(ErrBadConfig, "--iface %q: setting %q given twice", spec, k)
		}
		cfg.Settings[k] = v
	}
	return cfg.resolve()
}

// splitEscaped splits s at commas not escaped with a backslash.
func splitEscaped(s string) ([]string, error) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 == len(s) {
				return nil, errors.New("a backslash ends the value: write \\\\ for a backslash")
			}
			i++
			cur.WriteByte(s[i])
		case ',':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String()), nil
}

// resolve validates the definition and replaces KEY_env settings by the
// environment variable they name.
func (c IfaceConfig) resolve() (IfaceConfig, error) {
	if !ValidName(c.Name) {
		return c, sdk.Errorf(ErrBadConfig, "interface name %q: use lower case letters and digits, starting with a letter, such as lo0 or wl0", c.Name)
	}
	if c.Driver == "" {
		return c, sdk.Errorf(ErrBadConfig, "interface %s: no driver named", c.Name)
	}
	out := c
	out.Settings = sdk.Settings{}
	for k, v := range c.Settings {
		if base, ok := strings.CutSuffix(k, "_env"); ok && base != "" {
			val, set := os.LookupEnv(v)
			if !set {
				return c, sdk.Errorf(ErrBadConfig, "interface %s: setting %s names environment variable %s, which is not set", c.Name, k, v)
			}
			if _, dup := c.Settings[base]; dup {
				return c, sdk.Errorf(ErrBadConfig, "interface %s: both %s and %s are set: keep one", c.Name, base, k)
			}
			out.Settings[base] = val
			continue
		}
		out.Settings[k] = v
	}
	return out, nil
}

// FileConfig is the config file's format (JSON):
//
//	{
//	  "plugin_dir": "/usr/lib/ifsock",
//	  "log_level": "info",
//	  "interfaces": [
//	    {"name": "lo0", "driver": "loopback"},
//	    {"name": "wl0", "driver": "esp8266",
//	     "settings": {"port": "/dev/ttyUSB0", "ssid": "home", "password_env": "WIFI_PASSWORD"}}
//	  ]
//	}
//
// The settings are the same keys as --iface takes.
type FileConfig struct {
	PluginDir  string        `json:"plugin_dir,omitempty"`
	LogLevel   string        `json:"log_level,omitempty"`
	Interfaces []IfaceConfig `json:"interfaces"`
}

// LoadConfigFile reads a config file. Unknown fields are errors, so that a
// typo never passes silently.
func LoadConfigFile(path string) (FileConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileConfig{}, sdk.Errorf(ErrBadConfig, "config file: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var fc FileConfig
	if err := dec.Decode(&fc); err != nil {
		return FileConfig{}, sdk.Errorf(ErrBadConfig, "config file %s: %v", path, err)
	}
	for i, ic := range fc.Interfaces {
		r, err := ic.resolve()
		if err != nil {
			return FileConfig{}, fmt.Errorf("config file %s: %w", path, err)
		}
		fc.Interfaces[i] = r
	}
	return fc, nil
}
