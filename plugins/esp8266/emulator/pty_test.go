//go:build linux

package emulator

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.bug.st/serial"
)

// readPort reads from a go.bug.st/serial port until want has arrived.
func readPort(t *testing.T, port serial.Port, want string) {
	t.Helper()
	if err := port.SetReadTimeout(100 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitTime)
	var got []byte
	buf := make([]byte, 256)
	for !bytes.Contains(got, []byte(want)) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %q on the pty; got %q", want, got)
		}
		n, err := port.Read(buf) // 0, nil on timeout
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
}

func writePort(t *testing.T, port serial.Port, s string) {
	t.Helper()
	b := []byte(s)
	for len(b) > 0 { // Write may be short without an error
		n, err := port.Write(b)
		if err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
}

// TestPTY drives the emulator through a real pseudo-terminal opened with
// go.bug.st/serial, as a driver would, including a close and reopen.
func TestPTY(t *testing.T) {
	emu, err := New(Config{Firmware: Firmware17, Baud: fastBaud})
	if err != nil {
		t.Fatal(err)
	}
	path, stop, err := emu.ServePTY(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		if err := stop(); err != nil {
			t.Errorf("second stop: %v", err)
		}
	}()

	mode := &serial.Mode{BaudRate: 115200}
	port, err := serial.Open(path, mode)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	// A pty has no modem lines; the session must not care.
	if err := port.SetDTR(true); err == nil {
		t.Log("SetDTR succeeded on a pty")
	}
	readPort(t, port, "\r\nready\r\n")
	writePort(t, port, "AT\r\n")
	readPort(t, port, "AT\r\r\n\r\nOK\r\n")
	if err := port.Close(); err != nil {
		t.Fatal(err)
	}

	// The emulator keeps serving while no driver has the port open, and a
	// reopened port works (raw mode is re-applied by the library).
	port, err = serial.Open(path, mode)
	if err != nil {
		t.Fatalf("reopen %s: %v", path, err)
	}
	defer port.Close()
	writePort(t, port, "AT+GMR\r\n")
	readPort(t, port, "Bin version(Wroom 02):v1.7.0\r\nOK\r\n")
	writePort(t, port, "AT+CIPMUX=1\r\n")
	readPort(t, port, "AT+CIPMUX=1\r\r\n\r\nOK\r\n")
	if st := emu.Stats(); st.Commands < 3 {
		t.Fatalf("commands = %d, want at least 3", st.Commands)
	}
}

// TestPTYCloseUnblocksRead checks that Close wakes a Read pending on the
// master and that Close is idempotent.
func TestPTYCloseUnblocksRead(t *testing.T) {
	p, err := OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := p.Master().Read(make([]byte, 16))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("read returned no error after close")
		}
	case <-time.After(waitTime):
		t.Fatal("close did not unblock the pending read")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// TestPTYRaw checks that the slave is raw: CR, LF and control bytes pass
// untouched from the driver to the emulator and back.
func TestPTYRaw(t *testing.T) {
	p, err := OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	port, err := serial.Open(p.Path(), &serial.Mode{BaudRate: 9600})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	in := "a\r\nb\rc\n\x00\x03\x11\xff"
	writePort(t, port, in)
	m := p.Master()
	got := make([]byte, 0, len(in))
	buf := make([]byte, 64)
	for len(got) < len(in) {
		n, err := m.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != in {
		t.Fatalf("driver to emulator: got %q, want %q", got, in)
	}
	if _, err := m.Write([]byte(in)); err != nil {
		t.Fatal(err)
	}
	readPort(t, port, in)
}
