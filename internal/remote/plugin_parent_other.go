//go:build !unix

package remote

import "github.com/hashicorp/go-hclog"

// dieWithParent has no pipe from the host outside Unix; go-plugin's own
// stdio handling ends the plugin when the host's pipes close.
func dieWithParent(hclog.Logger) {}
