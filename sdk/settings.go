package sdk

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Settings are a driver's key=value settings, as the user wrote them in
// --iface or in the config file. The typed getters return ErrBadArgument
// errors that name the setting, what was wrong and what is accepted.
type Settings map[string]string

// String returns the value of key, or def when it is not set.
func (s Settings) String(key, def string) string {
	if v, ok := s[key]; ok {
		return v
	}
	return def
}

// Int returns the value of key as an integer in [min, max], or def when the
// key is not set.
func (s Settings) Int(key string, def, min, max int) (int, error) {
	v, ok := s[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < min || n > max {
		return 0, Errorf(ErrBadArgument, "setting %s=%q: want a whole number from %d to %d", key, v, min, max)
	}
	return n, nil
}

// Bool returns the value of key as a boolean (true/false, yes/no, on/off,
// 1/0), or def when the key is not set.
func (s Settings) Bool(key string, def bool) (bool, error) {
	v, ok := s[key]
	if !ok {
		return def, nil
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, Errorf(ErrBadArgument, "setting %s=%q: want true or false", key, v)
}

// Duration returns the value of key as a positive duration ("5s", "250ms"),
// or def when the key is not set.
func (s Settings) Duration(key string, def time.Duration) (time.Duration, error) {
	v, ok := s[key]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d <= 0 {
		return 0, Errorf(ErrBadArgument, "setting %s=%q: want a positive duration such as 5s or 250ms", key, v)
	}
	return d, nil
}

// Check fails with ErrBadArgument when a key is not among known, naming the
// known keys, so that a typo never passes silently.
func (s Settings) Check(driver string, known ...string) error {
	var unknown []string
	for k := range s {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	sorted := slices.Clone(known)
	slices.Sort(sorted)
	return Errorf(ErrBadArgument, "driver %s: unknown setting %s (known settings: %s)",
		driver, strings.Join(unknown, ", "), strings.Join(sorted, ", "))
}

// Clone returns a copy that the caller may change.
func (s Settings) Clone() Settings {
	c := make(Settings, len(s))
	for k, v := range s {
		c[k] = v
	}
	return c
}

// Redacted renders settings as sorted key=value pairs, hiding values whose key
// looks secret (password, psk, secret, token), for logs.
func (s Settings) Redacted() string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		v := s[k]
		if isSecretKey(k) {
			v = "***"
		}
		fmt.Fprintf(&b, "%s=%s", k, v)
	}
	return b.String()
}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"password", "passwd", "psk", "secret", "token", "key"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}
