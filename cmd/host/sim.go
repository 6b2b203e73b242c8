package main

import (
	"fmt"
	"io"
)

func cmdSim(args []string, stdout, stderr io.Writer, logLevel string) error {
	return fmt.Errorf("%w: sim: not built yet", errUsage)
}
