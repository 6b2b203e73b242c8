// Package emulator emulates the AT command firmware of an ESP8266 Wi-Fi module
// so that a real ESP8266 driver can be tested without a board.
//
// The emulator speaks both firmware dialects described in the project's AT
// reference: NonOS AT 1.7 ([Firmware17]) and ESP-AT 2.2 ([Firmware22]). It
// reproduces their byte-level framing (echo, result codes, the CIPSEND prompt,
// +IPD, passive receive notices, busy replies) and bridges every emulated link
// to a real TCP socket of the host: AT+CIPSTART dials, AT+CIPSERVER listens on
// 127.0.0.1, AT+CIPSEND writes to the socket and data read from the socket
// comes back as +IPD.
//
// # Running it
//
// [Emulator.Serve] runs the firmware over any byte stream, for example one end
// of net.Pipe in a unit test. [Emulator.ServePTY] opens a pseudo-terminal pair
// and serves its master side, so a driver can open the slave path with
// go.bug.st/serial exactly as it would open /dev/ttyUSB0.
//
// Output is paced to Config.Baud/10 bytes per second, like a UART at 8N1;
// a pseudo-terminal on its own is not throttled.
//
// # Concurrency model
//
// One goroutine (the one that called Serve) owns all firmware state: the
// settings, the link table and the command line. Helper goroutines, all owned by
// the running Serve call and all stopped before it returns, only move bytes:
//   - a reader copies the serial stream into the firmware;
//   - a writer drains the single output queue, so messages never interleave
//     except where the firmware deliberately does it (the "interleave" fault);
//   - one reader per link reads its TCP socket when the firmware asks for data,
//     which gives TCP back-pressure in passive mode;
//   - one acceptor per running server, and short-lived workers for the
//     asynchronous commands (DNS, dial, socket write, timers).
//
// # Faults
//
// Config.Faults turns on misbehaviours seen on real modules (see [Fault]). A
// random fault fires with probability Config.FaultRate at each opportunity and,
// so that it reliably shows up in a short session, at the latest at its third
// opportunity. Randomness comes from Config.Seed, so a session is repeatable
// when the driver's input is. Some faults are not random: dns-fail and
// interleave, and the server-side ones (silent-notice, burst-accept, sysmsg,
// idle-timeout apply whenever their situation arises; reset-serving and
// client-reset once per Serve), and the client-side short-read (every
// AT+CIPRECVDATA) and late-send-fail (every 1.x send), so that a test can
// reproduce a quirk on demand; error-before-closed fires at random like
// closed-before-prompt (a FaultRate of 1 makes both fire every time).
package emulator
