//go:build !linux

package remote

import "github.com/hashicorp/go-hclog"

// dieWithParent has no kernel help outside Linux; go-plugin's own stdio
// handling ends the plugin when the host's pipes close.
func dieWithParent(hclog.Logger) {}
