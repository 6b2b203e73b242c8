//go:build linux

package emulator

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal pair. The emulator serves the master side; a
// driver opens the slave path (Path) as if it were a serial port.
//
// The PTY keeps its own descriptor of the slave open for its whole life, so
// the master never reads EIO while no driver has the slave open, and
// terminal settings survive a driver closing and reopening the port. Bytes
// written while no driver is attached wait in the slave's input queue (about
// 4 KiB; beyond that the master's writes block).
//
// Close is idempotent and unblocks a Read or Write pending on the master.
type PTY struct {
	master *os.File
	slave  int
	path   string
	once   sync.Once
	err    error
}

// OpenPTY opens /dev/ptmx, unlocks and names the slave, opens the slave
// itself and puts it in raw mode (cfmakeraw: no echo, no CR/NL translation,
// no signals, 8 bits), so bytes pass untouched in both directions.
func OpenPTY() (*PTY, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("emulator: open pty master: %w", err)
	}
	rc, err := master.SyscallConn()
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("emulator: pty master: %w", err)
	}
	// Control keeps the master non-blocking (File.Fd would not), which is
	// what lets Close and deadlines interrupt a pending Read.
	var n int
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		if ierr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ierr != nil {
			ierr = fmt.Errorf("unlock pty slave: %w", ierr)
			return
		}
		if n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN); ierr != nil {
			ierr = fmt.Errorf("get pty number: %w", ierr)
		}
	}); err != nil {
		ierr = err
	}
	if ierr != nil {
		master.Close()
		return nil, fmt.Errorf("emulator: %w", ierr)
	}
	path := "/dev/pts/" + strconv.Itoa(n)
	slave, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("emulator: open pty slave %s: %w", path, err)
	}
	if err := makeRaw(slave); err != nil {
		unix.Close(slave)
		master.Close()
		return nil, fmt.Errorf("emulator: raw mode on %s: %w", path, err)
	}
	return &PTY{master: master, slave: slave, path: path}, nil
}

// makeRaw applies cfmakeraw(3) to the terminal fd.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// Path is the slave device, e.g. /dev/pts/7: what the driver opens.
func (p *PTY) Path() string { return p.path }

// Master is the emulator's side of the pair. It supports deadlines. Closing
// it closes the PTY.
func (p *PTY) Master() io.ReadWriteCloser { return masterFile{p} }

// Close closes both sides. It is idempotent and safe for concurrent use; a
// driver that still has the slave open then reads EOF or EIO.
func (p *PTY) Close() error {
	p.once.Do(func() {
		err1 := p.master.Close()
		err2 := unix.Close(p.slave)
		p.err = errors.Join(err1, err2)
	})
	return p.err
}

// masterFile exposes the master with Close closing the whole PTY.
type masterFile struct{ p *PTY }

func (m masterFile) Read(b []byte) (int, error)  { return m.p.master.Read(b) }
func (m masterFile) Write(b []byte) (int, error) { return m.p.master.Write(b) }
func (m masterFile) Close() error                { return m.p.Close() }

// SetReadDeadline and SetWriteDeadline let Serve interrupt blocked I/O.
func (m masterFile) SetReadDeadline(t time.Time) error  { return m.p.master.SetReadDeadline(t) }
func (m masterFile) SetWriteDeadline(t time.Time) error { return m.p.master.SetWriteDeadline(t) }
