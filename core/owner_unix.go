//go:build unix

package core

import (
	"os"
	"syscall"
)

// fileOwner returns the user id that owns the file.
func fileOwner(st os.FileInfo) (int, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(s.Uid), true
}
