package delaynet

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

func TestSettings(t *testing.T) {
	good := []struct {
		in   sdk.Settings
		want config
	}{
		{nil, config{maxSockets: DefaultMaxSockets}},
		{sdk.Settings{"delay": "20ms", "rate": "65536"}, config{delay: 20 * time.Millisecond, rate: 65536, maxSockets: DefaultMaxSockets}},
		{sdk.Settings{"delay": "0", "rate": "0"}, config{maxSockets: DefaultMaxSockets}},
		{sdk.Settings{"delay": "0s", "max_sockets": "4"}, config{maxSockets: 4}},
		{sdk.Settings{"delay": " 1m "}, config{delay: time.Minute, maxSockets: DefaultMaxSockets}},
		{sdk.Settings{"bind": "::1"}, config{maxSockets: DefaultMaxSockets}},
		{sdk.Settings{"bind": "[::]"}, config{maxSockets: DefaultMaxSockets}},
	}
	for _, c := range good {
		got, err := parseSettings(c.in)
		if err != nil {
			t.Errorf("parseSettings(%v): %v", c.in, err)
			continue
		}
		wantBind := strings.Trim(c.in.String("bind", DefaultBind), "[]")
		if got.bind.String() != wantBind {
			t.Errorf("parseSettings(%v): bind %v, want %v", c.in, got.bind, wantBind)
		}
		got.bind = c.want.bind
		if got != c.want {
			t.Errorf("parseSettings(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}

	bad := []struct {
		in   sdk.Settings
		says string // what the error must name
	}{
		{sdk.Settings{"delya": "20ms"}, "unknown setting delya (known settings: bind, delay, max_sockets, rate)"},
		{sdk.Settings{"delay": "-5ms"}, "setting delay="},
		{sdk.Settings{"delay": "20"}, "such as 20ms"},
		{sdk.Settings{"delay": "2m"}, "from 0 to 1m0s"},
		{sdk.Settings{"rate": "-1"}, "setting rate="},
		{sdk.Settings{"rate": "1k"}, "whole number"},
		{sdk.Settings{"max_sockets": "0"}, "setting max_sockets="},
		{sdk.Settings{"bind": "localhost"}, "setting bind="},
		{sdk.Settings{"bind": "fe80::1%eth0"}, "setting bind="},
	}
	for _, c := range bad {
		_, err := parseSettings(c.in)
		if !errors.Is(err, sdk.ErrBadArgument) {
			t.Errorf("parseSettings(%v) = %v, want ErrBadArgument", c.in, err)
			continue
		}
		if !strings.Contains(err.Error(), c.says) {
			t.Errorf("parseSettings(%v) = %q, want it to say %q", c.in, err, c.says)
		}
	}
}
