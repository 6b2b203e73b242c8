//go:build unix

package remote

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"golang.org/x/sys/unix"

	"github.com/ifsock/ifsock/internal/wire"
)

// dieWithParent makes this plugin process end when its host dies. The host
// passes the read end of a pipe (envHostFD) whose write end only it
// holds: a goroutine reads it, and EOF means the host is gone (killed or
// crashed; a host that closes its driver ends this process first). The
// plugin then removes its socket directory, which the host cannot do any
// more, and exits at once. The goroutine lives as long as the process.
//
// Started by a host that passes no pipe, it falls back to the parent-death
// signal (which belongs to the host's thread, not its process) and checks
// that the parent is still the host that started it.
func dieWithParent(logger hclog.Logger) {
	fd, err := strconv.Atoi(os.Getenv(envHostFD))
	if err != nil || fd < 3 {
		askParentDeathSignal(logger)
		if want := os.Getenv(wire.EnvHostPID); want != "" && want != strconv.Itoa(os.Getppid()) {
			logger.Error("the host that started this plugin is gone; exiting", "host_pid", want)
			os.Exit(1)
		}
		return
	}
	unix.CloseOnExec(fd) // a process this plugin starts must not keep it alive
	// Nor take the variable for its own: it would watch an unrelated fd.
	_ = os.Unsetenv(envHostFD)
	dir := os.Getenv(plugin.EnvUnixSocketDir)
	f := os.NewFile(uintptr(fd), "host-watch")
	go func() {
		var b [64]byte
		for {
			if _, err := f.Read(b[:]); err != nil {
				break
			}
		}
		removeSocketDir(dir)
		logger.Error("the host that started this plugin is gone; exiting")
		os.Exit(1)
	}()
}

// removeSocketDir removes the directory of this plugin's sockets, which the
// host made (go-plugin's EnvUnixSocketDir), if it is one of ours.
func removeSocketDir(dir string) {
	if dir != "" && strings.HasPrefix(filepath.Base(dir), socketDirPrefix) {
		_ = os.RemoveAll(dir)
	}
}
