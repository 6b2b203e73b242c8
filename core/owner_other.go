//go:build !unix

package core

import "os"

// fileOwner has no user id to give outside Unix.
func fileOwner(os.FileInfo) (int, bool) { return 0, false }
