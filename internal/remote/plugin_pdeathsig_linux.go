package remote

import (
	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// askParentDeathSignal asks the kernel for SIGKILL when the thread that
// started this process exits: the fallback for a host that passes no pipe.
func askParentDeathSignal(logger hclog.Logger) {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		logger.Warn("cannot ask for a parent-death signal", "error", err)
	}
}
