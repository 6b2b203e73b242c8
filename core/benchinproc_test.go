package core_test

import (
	"testing"

	"github.com/ifsock/ifsock/core"
)

func newInProcessHost(t testing.TB, ifaces ...core.IfaceConfig) *core.Host {
	h, err := core.New(core.Config{Interfaces: ifaces, Builtins: builtins, InProcess: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}
