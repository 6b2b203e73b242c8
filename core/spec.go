package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/ifsock/ifsock/sdk"
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

// Limits on an interface definition, checked before anything reaches a
// driver process, so that an oversized definition is a bad argument of the
// user's and never an error of the plugin boundary.
const (
	// MaxDriverName is the longest driver name, in bytes.
	MaxDriverName = 64
	// MaxSettingKey is the longest setting key, in bytes. A key is made of
	// letters, digits, '_', '-' and '.'.
	MaxSettingKey = 64
	// MaxSettingValue is the longest setting value, in bytes, as the driver
	// gets it (after a KEY_env setting took it from the environment).
	MaxSettingValue = 1024
	// MaxSettings is the most bytes all keys and values of one interface's
	// settings may take together.
	MaxSettings = 16 << 10
	// MaxConfigFile is the largest config file, in bytes.
	MaxConfigFile = 1 << 20
)

var (
	ifaceName  = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,14}$`)
	settingKey = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// ValidName reports whether name is a usable interface name: lower case
// letters, digits, '-' and '_', starting with a letter, at most 15 bytes.
func ValidName(name string) bool { return ifaceName.MatchString(name) }

// quotePrefix is how much of a long input QuoteInput shows.
const quotePrefix = 64

// QuoteInput quotes what a user gave, for an error message: all of it when
// it is short, else its first 64 bytes (cut at a character boundary)
// followed by its size, such as "aaaa"…(100000 bytes). A huge argument thus
// never becomes a huge error line. Use it wherever an error echoes input.
func QuoteInput(s string) string {
	if len(s) <= quotePrefix {
		return strconv.Quote(s)
	}
	cut := quotePrefix
	for cut > quotePrefix-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// ParseIfaceSpec parses the --iface flag's value NAME=DRIVER[,KEY=VALUE...].
// A comma or backslash inside a value is written \, or \\. A key ending in
// _env takes its value from the environment variable it names (for
// secrets): password_env=WIFI_PASSWORD sets password. The definition must
// keep to the limits above (MaxSettingValue and the others).
func ParseIfaceSpec(spec string) (IfaceConfig, error) {
	q := QuoteInput(spec)
	parts, err := splitEscaped(spec)
	if err != nil {
		return IfaceConfig{}, sdk.Errorf(ErrBadConfig, "--iface %s: %v", q, err)
	}
	name, driver, ok := strings.Cut(parts[0], "=")
	if !ok || name == "" || driver == "" {
		return IfaceConfig{}, sdk.Errorf(ErrBadConfig, "--iface %s: want NAME=DRIVER[,KEY=VALUE...], such as lo0=loopback", q)
	}
	cfg := IfaceConfig{Name: name, Driver: driver, Settings: sdk.Settings{}}
	for _, kv := range parts[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return IfaceConfig{}, sdk.Errorf(ErrBadConfig, "--iface %s: setting %s is not KEY=VALUE", q, QuoteInput(kv))
		}
		if _, dup := cfg.Settings[k]; dup {
			return IfaceConfig{}, sdk.Errorf(ErrBadConfig, "--iface %s: setting %s given twice", q, QuoteInput(k))
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

// resolve validates the definition against the limits and replaces
// KEY_env settings by the environment variable they name.
func (c IfaceConfig) resolve() (IfaceConfig, error) {
	if !ValidName(c.Name) {
		return c, sdk.Errorf(ErrBadConfig, "interface name %s: use lower case letters and digits, starting with a letter, at most 15 bytes, such as lo0 or wl0", QuoteInput(c.Name))
	}
	switch {
	case c.Driver == "":
		return c, sdk.Errorf(ErrBadConfig, "interface %s: no driver named", c.Name)
	case len(c.Driver) > MaxDriverName:
		return c, sdk.Errorf(ErrBadConfig, "interface %s: driver name %s is longer than %d bytes", c.Name, QuoteInput(c.Driver), MaxDriverName)
	}
	keys := make([]string, 0, len(c.Settings))
	for k := range c.Settings {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same error for the same definition
	out := c
	out.Settings = make(sdk.Settings, len(c.Settings))
	total := 0
	for _, k := range keys {
		v := c.Settings[k]
		if len(k) > MaxSettingKey || !settingKey.MatchString(k) {
			return c, sdk.Errorf(ErrBadConfig, "interface %s: setting name %s: use letters, digits, '_', '-' and '.', at most %d bytes", c.Name, QuoteInput(k), MaxSettingKey)
		}
		from := ""
		if base, ok := strings.CutSuffix(k, "_env"); ok && base != "" {
			if strings.HasPrefix(v, "IFSOCK_") {
				// IFSOCK_* variables reach every plugin process: a secret
				// must not live in one.
				return c, sdk.Errorf(ErrBadConfig, "interface %s: setting %s names %s: IFSOCK_* variables are the project's own and every plugin gets them; keep the secret in a variable of another name", c.Name, k, QuoteInput(v))
			}
			val, set := os.LookupEnv(v)
			if !set {
				return c, sdk.Errorf(ErrBadConfig, "interface %s: setting %s names environment variable %s, which is not set", c.Name, k, QuoteInput(v))
			}
			if _, dup := c.Settings[base]; dup {
				return c, sdk.Errorf(ErrBadConfig, "interface %s: both %s and %s are set: keep one", c.Name, base, k)
			}
			from = " (from environment variable " + QuoteInput(v) + ")"
			k, v = base, val
		}
		if len(v) > MaxSettingValue {
			return c, sdk.Errorf(ErrBadConfig, "interface %s: setting %s%s is %d bytes: a value may have at most %d", c.Name, k, from, len(v), MaxSettingValue)
		}
		total += len(k) + len(v)
		out.Settings[k] = v
	}
	if total > MaxSettings {
		return c, sdk.Errorf(ErrBadConfig, "interface %s: its settings take %d bytes together: at most %d", c.Name, total, MaxSettings)
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
// The settings are the same keys as --iface takes. The file is read
// strictly, so that a typo never passes silently: it must be a regular file
// of at most MaxConfigFile bytes holding exactly one JSON object, with no
// unknown field, no key given twice in any object, and values that
// [FileConfig.validate] accepts. A new field needs its json tag and, if
// some values are wrong, a check in validate.
type FileConfig struct {
	PluginDir  string        `json:"plugin_dir,omitempty"`
	LogLevel   string        `json:"log_level,omitempty"`
	Interfaces []IfaceConfig `json:"interfaces"`
	// PluginSHA256 pins external plugins by the SHA-256 of their binary:
	// {"mydriver": "<64 hex digits>"}. See Config.PluginSHA256.
	PluginSHA256 map[string]string `json:"plugin_sha256,omitempty"`
}

// LogLevels are the levels log_level and --log-level take.
var LogLevels = []string{"trace", "debug", "info", "warn", "error"}

// validate checks the fields' values; the interfaces are checked by
// LoadConfigFile after it.
func (fc *FileConfig) validate() error {
	if fc.LogLevel != "" && !slices.Contains(LogLevels, fc.LogLevel) {
		return fmt.Errorf("log_level %s: use %s", QuoteInput(fc.LogLevel), strings.Join(LogLevels, ", "))
	}
	return nil
}

// LoadConfigFile reads a config file (see [FileConfig] for what it must
// hold). Every error matches ErrBadConfig and names the file and what is
// wrong, with the line and column where the JSON is at fault.
func LoadConfigFile(path string) (FileConfig, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return FileConfig{}, err
	}
	fc, err := parseConfig(data)
	if err != nil {
		return FileConfig{}, sdk.Errorf(ErrBadConfig, "config file %s: %v", QuoteInput(path), err)
	}
	for i, ic := range fc.Interfaces {
		r, err := ic.resolve()
		if err != nil {
			return FileConfig{}, fmt.Errorf("config file %s: interfaces[%d]: %w", QuoteInput(path), i, err)
		}
		fc.Interfaces[i] = r
	}
	return fc, nil
}

// readConfigFile reads a regular file of at most MaxConfigFile bytes. It
// looks before it opens, so that a FIFO with no writer cannot block it, and
// opens without blocking and looks again, so that a file swapped in
// between cannot either.
func readConfigFile(path string) ([]byte, error) {
	q := QuoteInput(path)
	st, err := os.Stat(path)
	if err != nil {
		return nil, sdk.Errorf(ErrBadConfig, "config file %s: %w", q, pathErr(err))
	}
	if err := regularFile(q, st); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, sdk.Errorf(ErrBadConfig, "config file %s: %w", q, pathErr(err))
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return nil, sdk.Errorf(ErrBadConfig, "config file %s: %w", q, pathErr(err))
	}
	if err := regularFile(q, st); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigFile+1))
	if err != nil {
		return nil, sdk.Errorf(ErrBadConfig, "config file %s: %w", q, pathErr(err))
	}
	if len(data) > MaxConfigFile {
		return nil, sdk.Errorf(ErrBadConfig, "config file %s is larger than %d bytes: is it the right file?", q, MaxConfigFile)
	}
	return data, nil
}

// pathErr drops the path from an *fs.PathError: the message names the file
// once already.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// regularFile refuses what is not a regular file (a FIFO, a device, a
// directory), which would block the reader or make no sense as a config.
func regularFile(q string, st fs.FileInfo) error {
	if st.Mode().IsRegular() {
		return nil
	}
	what := "not a regular file"
	switch t := st.Mode().Type(); {
	case t&fs.ModeDir != 0:
		what += " but a directory"
	case t&fs.ModeNamedPipe != 0:
		what += " but a FIFO"
	case t&fs.ModeSocket != 0:
		what += " but a socket"
	case t&fs.ModeDevice != 0:
		what += " but a device"
	}
	return sdk.Errorf(ErrBadConfig, "config file %s is %s: give a JSON file", q, what)
}

// parseConfig decodes one JSON object strictly: first its shape (one
// object, no key twice, nothing after it), then its fields (no unknown one,
// each of the right type), then their values.
func parseConfig(data []byte) (FileConfig, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return FileConfig{}, errors.New(`the file is empty: want a JSON object such as {"interfaces": [{"name": "lo0", "driver": "loopback"}]}`)
	}
	if err := checkJSONShape(data); err != nil {
		return FileConfig{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var fc FileConfig
	if err := dec.Decode(&fc); err != nil {
		return FileConfig{}, jsonError(data, err)
	}
	if err := fc.validate(); err != nil {
		return FileConfig{}, err
	}
	return fc, nil
}

// maxJSONDepth bounds nesting: the format needs four levels.
const maxJSONDepth = 16

// checkJSONShape checks that data is exactly one JSON object, that no
// object in it has a key twice (encoding/json would keep the last one
// silently), and that nothing follows it.
func checkJSONShape(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return jsonError(data, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New(`want a JSON object such as {"interfaces": [...]}`)
	}
	if err := walkJSON(dec, data, '{', "", 1, reflect.TypeFor[FileConfig]()); err != nil {
		return err
	}
	end := int(dec.InputOffset())
	if _, err := dec.Token(); err != io.EOF {
		for end < len(data) && strings.IndexByte(" \t\r\n", data[end]) >= 0 {
			end++
		}
		return fmt.Errorf("%s: unexpected data after the JSON object: a config file holds one object only", position(data, end))
	}
	return nil
}

// walkJSON reads the rest of the object or array that delim opened, whose
// Go type is t (nil: not known). An object decoded into a struct must spell
// each field exactly as its json tag does: encoding/json would take
// "Log_Level" for log_level, and keep only the last of the two.
func walkJSON(dec *json.Decoder, data []byte, delim json.Delim, path string, depth int, t reflect.Type) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("%s: nested more than %d levels deep", position(data, int(dec.InputOffset())), maxJSONDepth)
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	where := ""
	if path != "" {
		where = path + ": "
	}
	seen := map[string]bool{}
	for i := 0; dec.More(); i++ {
		elem := fmt.Sprintf("%s[%d]", path, i)
		var et reflect.Type // the element's type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map) {
			et = t.Elem()
		}
		if delim == '{' {
			tok, err := dec.Token()
			if err != nil {
				return jsonError(data, err)
			}
			key, _ := tok.(string)
			at := position(data, int(dec.InputOffset()))
			if seen[key] {
				return fmt.Errorf("%s: %skey %s appears twice: keep one", at, where, QuoteInput(key))
			}
			seen[key] = true
			if t != nil && t.Kind() == reflect.Struct {
				f, ok := jsonField(t, key)
				if !ok {
					return fmt.Errorf("%s: %sunknown field %s: check its spelling against the documented format", at, where, QuoteInput(key))
				}
				if f.name != key {
					return fmt.Errorf("%s: %sfield %s: write it %q", at, where, QuoteInput(key), f.name)
				}
				et = f.typ
			}
			elem = key
			if len(key) > quotePrefix || !settingKey.MatchString(key) {
				elem = QuoteInput(key)
			}
			if path != "" {
				elem = path + "." + elem
			}
		}
		tok, err := dec.Token()
		if err != nil {
			return jsonError(data, err)
		}
		if d, ok := tok.(json.Delim); ok {
			if err := walkJSON(dec, data, d, elem, depth+1, et); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return jsonError(data, err)
	}
	return nil
}

type field struct {
	name string
	typ  reflect.Type
}

// jsonField finds the field of struct t that encoding/json decodes key
// into: the exact name first, else one that differs only in case.
func jsonField(t reflect.Type, key string) (field, bool) {
	var folded field
	found := false
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if name == key {
			return field{name, sf.Type}, true
		}
		if !found && strings.EqualFold(name, key) {
			folded, found = field{name, sf.Type}, true
		}
	}
	return folded, found
}

// jsonError says where in data a decoding error is, in words a user can
// act on.
func jsonError(data []byte, err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the JSON ends early: a } or ] is missing")
	case errors.As(err, &syntax):
		return fmt.Errorf("%s: %s", position(data, int(syntax.Offset)), strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the value"
		}
		return fmt.Errorf("%s: %s: want %s, not %s", position(data, int(typ.Offset)), field, jsonType(typ.Type), jsonValue(typ.Value))
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if field, ok := strings.CutPrefix(msg, "unknown field "); ok {
		if name, uerr := strconv.Unquote(field); uerr == nil {
			field = QuoteInput(name)
		}
		return fmt.Errorf("unknown field %s: check its spelling against the documented format", field)
	}
	return errors.New(msg)
}

// jsonType names a Go type as the JSON it decodes from.
func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list [...]"
	case reflect.Map, reflect.Struct:
		return "an object {...}"
	case reflect.Bool:
		return "true or false"
	}
	return "a number"
}

// jsonValue names the kind of JSON value encoding/json found.
func jsonValue(v string) string {
	switch v {
	case "array":
		return "a list"
	case "object":
		return "an object"
	case "bool":
		return "true or false"
	}
	return "a " + v
}

// position renders a byte offset in data as a line and a column.
func position(data []byte, off int) string {
	off = min(max(off, 0), len(data))
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}
