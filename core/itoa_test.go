package core_test

import (
	"errors"
	"strconv"

	"github.com/ifsock/ifsock/core"
)

func itoa(n int) string { return strconv.Itoa(n) }

func coreIface(name, driver string, kv ...string) core.IfaceConfig {
	s := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		s[kv[i]] = kv[i+1]
	}
	return core.IfaceConfig{Name: name, Driver: driver, Settings: s}
}

func sdkIs(err, target error) bool { return errors.Is(err, target) }
