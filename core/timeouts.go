package core

import "time"

// The defaults of Config's timeouts.
const (
	defaultCallTimeout  = 10 * time.Second
	defaultStartTimeout = 30 * time.Second
	defaultAdoptTimeout = 30 * time.Second
)

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// callTimeout is Config.CallTimeout or its default.
func (i *Interface) callTimeout() time.Duration {
	return orDefault(i.host.cfg.CallTimeout, defaultCallTimeout)
}

// startTimeout is Config.StartTimeout or its default.
func (i *Interface) startTimeout() time.Duration {
	return orDefault(i.host.cfg.StartTimeout, defaultStartTimeout)
}

// adoptTimeout is Config.AdoptTimeout or its default.
func (i *Interface) adoptTimeout() time.Duration {
	return orDefault(i.host.cfg.AdoptTimeout, defaultAdoptTimeout)
}
