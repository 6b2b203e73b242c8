//go:build unix && !linux

package remote

import "github.com/hashicorp/go-hclog"

// askParentDeathSignal has no kernel help outside Linux.
func askParentDeathSignal(hclog.Logger) {}
