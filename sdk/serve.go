package sdk

import "github.com/hashicorp/go-hclog"

// ServeOption adjusts Serve.
type ServeOption func(*serveConfig)

type serveConfig struct {
	logger hclog.Logger
}

// WithLogger makes Serve log through l instead of an hclog logger on stderr.
func WithLogger(l hclog.Logger) ServeOption { return func(c *serveConfig) { c.logger = l } }
