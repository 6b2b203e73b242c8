package esp8266

import (
	"io"

	"go.bug.st/serial"

	"github.com/ifsock/ifsock/sdk"
)

// openSerial opens the module's serial device at baud, 8N1, no flow control.
// It makes no DTR, RTS or modem-status call (they fail with ENOTTY on a
// pseudo-terminal) and sets no read timeout: the driver's reader blocks in
// Read until a byte comes or Close unblocks it.
func openSerial(name string, baud int) (io.ReadWriteCloser, error) {
	p, err := serial.Open(name, &serial.Mode{BaudRate: baud})
	if err != nil {
		return nil, sdk.Errorf(sdk.ErrDevice, "open serial port %s at %d baud: check the device name and permissions: %w", name, baud, err)
	}
	return p, nil
}
