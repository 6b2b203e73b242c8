//go:build unix

package remote

import (
	"os"
	"os/exec"
	"strconv"
)

// watchHost gives the plugin a way to learn that the host died: the read end
// of a pipe whose write end only the host holds. The host never writes to
// it; when the host dies, the kernel closes the write end and the plugin
// reads EOF (see dieWithParent), at once and whichever thread started it.
// (The parent-death signal this replaces belongs to the thread that forked
// the child, golang/go#27505: a host thread that exits killed its plugins.)
//
// It returns the write end, which the caller keeps open until the plugin is
// gone, and a function that closes the host's copy of the read end once the
// process started.
func watchHost(cmd *exec.Cmd) (keep *os.File, started func(), err error) {
	r, w, err := os.Pipe() // both ends close-on-exec: no other child gets them
	if err != nil {
		return nil, nil, err
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, r)
	fd := 2 + len(cmd.ExtraFiles) // ExtraFiles[i] is fd 3+i in the child
	cmd.Env = append(cmd.Env, envHostFD+"="+strconv.Itoa(fd))
	return w, func() { _ = r.Close() }, nil
}
