package remote

import (
	"os"
	"strconv"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"ifsock/internal/wire"
)

// dieWithParent asks the kernel to kill this process when its parent dies,
// then checks that the parent is still the host that started it (it may have
// died before the request was made).
func dieWithParent(logger hclog.Logger) {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		logger.Warn("cannot ask for a parent-death signal", "error", err)
	}
	if want := os.Getenv(wire.EnvHostPID); want != "" && want != strconv.Itoa(os.Getppid()) {
		logger.Error("the host that started this plugin is gone; exiting", "host_pid", want)
		os.Exit(1)
	}
}
