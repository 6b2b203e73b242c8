package core

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/ifsock/ifsock/sdk"
)

// The trust model (docs/architecture.md, "Trust model"): an external plugin
// runs with the host's user and rights, so which binary runs is the host's
// to decide, not its inputs'. A driver name is a plain name, the plugin
// directory and binary must not be writable by other users, and a plugin can
// be pinned by its SHA-256.

var driverName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidDriverName reports whether name is a plain driver name: letters,
// digits, '-', '_' and '.', starting with a letter or digit, at most 64
// bytes. An external driver NAME is the binary PLUGIN_DIR/NAME-plugin, so a
// plain name can never point outside the plugin directory.
func ValidDriverName(name string) bool { return driverName.MatchString(name) }

func checkDriverName(name string) error {
	if ValidDriverName(name) {
		return nil
	}
	return sdk.Errorf(sdk.ErrBadArgument, "driver name %s: use a plain name (letters, digits, '-', '_' and '.', starting with a letter or digit), such as hostnet: driver NAME runs PLUGIN_DIR/NAME-plugin, never a path", QuoteInput(name))
}

// pinOf returns the SHA-256 pin of driver in pins (hex), or nil.
func pinOf(pins map[string]string, driver string) ([]byte, error) {
	h, ok := pins[driver]
	if !ok {
		return nil, nil
	}
	sum, err := hex.DecodeString(strings.TrimSpace(h))
	if err != nil || len(sum) != sha256.Size {
		return nil, sdk.Errorf(ErrBadConfig, "SHA-256 pin of driver %s: %s is not 64 hex digits: write the output of sha256sum PLUGIN_DIR/%s-plugin", driver, QuoteInput(h), driver)
	}
	return sum, nil
}

// checkPins validates every pin: a plain driver name that is not built in
// (a built-in driver runs the host binary itself) and 64 hex digits.
func checkPins(pins map[string]string, builtins Builtins) error {
	names := make([]string, 0, len(pins))
	for n := range pins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := checkDriverName(n); err != nil {
			return sdk.Errorf(ErrBadConfig, "SHA-256 pin: %w", err)
		}
		if _, ok := builtins[n]; ok {
			return sdk.Errorf(ErrBadConfig, "SHA-256 pin of driver %s: it is built into the host binary; pins apply to external plugins only: remove it", n)
		}
		if _, err := pinOf(pins, n); err != nil {
			return err
		}
	}
	return nil
}

// checkPlugin checks the external plugin binary path in dir before it runs:
// neither dir nor the binary (nor, through a symbolic link, the directory of
// the file it points to) may be writable by other users or owned by anyone
// but this user or root, and the binary must match pin if there is one. It
// returns the binary's real path, which is what runs.
func checkPlugin(dir, path string, pin []byte) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", sdk.Errorf(ErrBadConfig, "plugin %s: %w", path, err)
	}
	if real, err = filepath.Abs(real); err != nil {
		return "", sdk.Errorf(ErrBadConfig, "plugin %s: %w", path, err)
	}
	checks := []struct{ what, path string }{{"plugin directory", dir}, {"plugin", real}}
	if rd, d := filepath.Dir(real), evalOr(dir); rd != d {
		checks = append(checks, struct{ what, path string }{"directory of plugin", rd})
	}
	for _, c := range checks {
		if err := checkNotWritableByOthers(c.what, c.path); err != nil {
			return "", err
		}
	}
	if pin != nil {
		sum, err := fileSHA256(real)
		if err != nil {
			return "", sdk.Errorf(ErrBadConfig, "plugin %s: %w", real, err)
		}
		if string(sum) != string(pin) {
			return "", sdk.Errorf(ErrBadConfig, "plugin %s has SHA-256 %x, but its pin is %x: if you trust this binary, update the pin (--plugin-sha256 or plugin_sha256)", real, sum, pin)
		}
	}
	return real, nil
}

func evalOr(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		if a, err := filepath.Abs(r); err == nil {
			return a
		}
	}
	return p
}

func checkNotWritableByOthers(what, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return sdk.Errorf(ErrBadConfig, "%s: %w", what, err)
	}
	if perm := st.Mode().Perm(); perm&0o022 != 0 {
		return sdk.Errorf(ErrBadConfig, "%s %s is writable by group or others (mode %v), so another user could choose what the host runs: run chmod go-w %s", what, path, perm, path)
	}
	if uid, ok := fileOwner(st); ok && uid != os.Getuid() && uid != 0 {
		return sdk.Errorf(ErrBadConfig, "%s %s is owned by uid %d, neither you nor root, so another user could choose what the host runs: use a directory and binary of yours or root's", what, path, uid)
	}
	return nil
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
