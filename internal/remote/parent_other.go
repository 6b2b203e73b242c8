//go:build !unix

package remote

import (
	"os"
	"os/exec"
)

// watchHost has no pipe to pass outside Unix; go-plugin's own stdio handling
// ends the plugin when the host's pipes close.
func watchHost(*exec.Cmd) (keep *os.File, started func(), err error) {
	return nil, func() {}, nil
}
