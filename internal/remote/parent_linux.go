package remote

import (
	"os/exec"
	"syscall"
)

// setParentDeath makes the kernel kill the plugin when the host dies.
func setParentDeath(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
