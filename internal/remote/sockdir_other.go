//go:build !unix

package remote

import (
	"os"
)

// socketDir is a plugin's socket directory, owned by the host. Outside Unix
// nothing locks it (and go-plugin uses TCP there).
type socketDir struct{ path string }

func newSocketDir(base string) (*socketDir, error) {
	dir, err := os.MkdirTemp(base, socketDirPrefix)
	if err != nil {
		return nil, err
	}
	return &socketDir{path: dir}, nil
}

func (d *socketDir) remove() { _ = os.RemoveAll(d.path) }

func socketBase() (string, error) { return os.TempDir(), nil }
