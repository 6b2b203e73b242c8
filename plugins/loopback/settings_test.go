package loopback_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ifsock/ifsock/plugins/loopback"
	"github.com/ifsock/ifsock/sdk"
)

func TestSettingsDefaults(t *testing.T) {
	d := loopback.New()
	info, err := d.Open(ctx(t), sdk.OpenRequest{Events: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx(t))
	if info.Name != "loopback" || !info.CanListen || info.MaxSockets != loopback.DefaultMaxSockets {
		t.Errorf("Info = %+v, want name loopback, CanListen, MaxSockets %d", info, loopback.DefaultMaxSockets)
	}
}

func TestSettingsRejected(t *testing.T) {
	for _, s := range []sdk.Settings{
		{"max_socket": "4"}, // a typo
		{loopback.SettingMaxSockets: "0"},
		{loopback.SettingMaxSockets: "many"},
		{loopback.SettingBuffer: "0"},
		{loopback.SettingRefuse: "maybe"},
		{loopback.SettingDelay: "-1s"},
		{loopback.SettingDelay: "soon"},
		{loopback.SettingDropAfter: "-1"},
	} {
		d := loopback.New()
		_, err := d.Open(ctx(t), sdk.OpenRequest{Settings: s, Events: &recorder{}})
		if !errors.Is(err, sdk.ErrBadArgument) {
			t.Errorf("Open(%s) = %v, want ErrBadArgument", s.Redacted(), err)
		}
		if err != nil && !strings.Contains(err.Error(), "max_sockets") && !strings.Contains(err.Error(), "setting") {
			t.Errorf("Open(%s) = %q: want the setting named", s.Redacted(), err)
		}
		d.Close(ctx(t))
	}
}

func TestSettingsUnknownNamesKnown(t *testing.T) {
	d := loopback.New()
	_, err := d.Open(ctx(t), sdk.OpenRequest{Settings: sdk.Settings{"bufer": "1"}, Events: &recorder{}})
	for _, key := range []string{"bufer", "buffer", "max_sockets", "refuse", "delay", "drop_after"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Open with an unknown key = %v: want it to name %q", err, key)
		}
	}
}

func TestMaxSocketsCountsBothEndsAndListeners(t *testing.T) {
	d, r := open(t, sdk.Settings{loopback.SettingMaxSockets: "3"})
	connect(t, d, r, 80) // a listener and two ends: three sockets
	if _, err := d.Listen(ctx(t), sdk.ListenRequest{Port: 81}); !errors.Is(err, sdk.ErrNoSockets) {
		t.Errorf("Listen at the limit = %v, want ErrNoSockets", err)
	}
}
