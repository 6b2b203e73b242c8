package core

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/ifsock/ifsock/sdk"
)

// FuzzParseConfig: a config file's bytes decode into a FileConfig or fail
// with an error, never a panic; what decodes is valid JSON holding one
// object, and survives the round trip through json.Marshal unchanged.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{"log_level": "info", "interfaces": [{"name": "lo1", "driver": "loopback", "settings": {"max_sockets": "3"}}]}`,
		`{"interfaces": []} {}`, `{"log_level": "info", "log_level": "debug"}`, `{"Interfaces": []}`,
		`{"interfaces": [{"name": "lo1", "driver": "loopback", "settings": {"a": "1", "a": "2"}}]}`,
		`{"log_level": "loudest"}`, `[]`, ``, `{"interfaces": [}`, `{"plugin_dir": "/x", "interfaces": null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fc, err := parseConfig(data)
		if err != nil {
			if len(err.Error()) > 1024 {
				t.Fatalf("parseConfig(%q): an error of %d bytes", data, len(err.Error()))
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("parseConfig(%q) accepted invalid JSON: %+v", data, fc)
		}
		out, err := json.Marshal(fc)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseConfig(out)
		for i := range fc.Interfaces {
			if len(fc.Interfaces[i].Settings) == 0 {
				fc.Interfaces[i].Settings = nil // omitempty drops {}
			}
		}
		if err != nil || !reflect.DeepEqual(again, fc) {
			t.Fatalf("parseConfig(%q) = %+v; marshaled as %s it parses as %+v, %v", data, fc, out, again, err)
		}
	})
}

// The errors LoadConfigFile builds from parseConfig's are bad arguments.
var _ = errors.Is(sdk.ErrBadArgument, ErrBadConfig)
