// Package sdkplugin serves an sdk.Driver as a plugin process: the one call a
// plugin's main makes. It is kept apart from package sdk, the contract, so
// that a driver package imports no RPC code; only its main imports this.
package sdkplugin

import (
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/internal/remote"
	"github.com/ifsock/ifsock/internal/wire"
	"github.com/ifsock/ifsock/sdk"
)

// Option adjusts Serve.
type Option func(*config)

type config struct {
	logger hclog.Logger
}

// WithLogger makes Serve log through l instead of the default: JSON on
// stderr, which the host reads and writes into its own log.
func WithLogger(l hclog.Logger) Option { return func(c *config) { c.logger = l } }

// EnvLogLevel names the variable through which the host passes its log level
// to a plugin process ("trace", "debug", "info", "warn", "error").
const EnvLogLevel = wire.EnvLogLevel

// Serve runs d as a plugin: call it from a plugin's main and nothing else.
// It speaks go-plugin's handshake on stdout, serves the driver to the host,
// and returns when the host closes the driver or goes away (the driver is
// closed by then). It never writes anything else to stdout.
//
// A plugin process never outlives its host: it watches a pipe the host
// passes it, and when the host dies it removes its socket directory and
// exits at once. Its environment is the minimal one the host gives (see the
// trust model in docs/architecture.md), not the host's.
//
// Started by hand rather than by a host, Serve explains itself on stderr
// and exits with status 1.
func Serve(d sdk.Driver, opts ...Option) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = hclog.New(&hclog.LoggerOptions{
			Name:       "driver",
			Output:     os.Stderr,
			JSONFormat: true,
			Level:      hclog.LevelFromString(os.Getenv(EnvLogLevel)),
		})
	}
	remote.Serve(d, cfg.logger)
}

// ServeSelected lets one binary carry several drivers and run each as a
// plugin process: when the environment variable env is set, it serves the
// driver of drivers that env names and exits the process; otherwise it
// returns at once. A host binary (core.ServeBuiltin) and a test binary
// (sdktest.ServeIfChild) re-execute themselves with env set to run a
// driver. An unknown name is reported on stderr, with exit status 1.
func ServeSelected(env string, drivers map[string]func() sdk.Driver) {
	name, ok := os.LookupEnv(env)
	if !ok {
		return
	}
	newDriver, ok := drivers[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "plugin mode (%s=%s): this binary has no driver %q\n", env, name, name)
		os.Exit(1)
	}
	Serve(newDriver())
	os.Exit(0)
}
