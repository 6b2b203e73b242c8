package emulator

import (
	"context"
	"strings"
)

// bootCause selects the ROM's first boot line.
type bootCause int

const (
	bootSoftware bootCause = iota // AT+RST, AT+RESTORE
	bootWatchdog                  // the reset fault
)

func (s *session) defaults() settings {
	return settings{
		echo:     true,
		mode:     1,
		sto:      defaultSTO,
		maxConn:  maxLinks,
		baud:     s.defBaud,
		errCodes: s.cfg.ErrCodes,
		sysmsg:   s.sysmsgDefault(),
	}
}

// sysmsgDefault is the AT+SYSMSG value after a reset: the detail bit is left
// set with the sysmsg fault (an earlier host stored it).
func (s *session) sysmsgDefault() int {
	if s.faults.enabled(FaultSysMsg) {
		return 2
	}
	return 0
}

// powerUp is the state at Serve start: defaults, ready, and autoconnect when
// Config.Joined.
func (s *session) powerUp() {
	s.set = s.defaults()
	s.autoConn, s.sysStore = true, true
	if s.cfg.Joined {
		s.storedSSID = s.apName("")
	}
	s.rx = rxIdle
	s.put("\r\nready\r\n")
	s.autoconnect()
}

func (s *session) autoconnect() {
	if s.autoConn && s.storedSSID != "" && s.set.mode != 2 {
		s.joined, s.ssid = true, s.storedSSID
		s.put("WIFI CONNECTED\r\n")
		s.put("WIFI GOT IP\r\n")
	}
}

// apName is the SSID reported for a join: the configured one, else what the
// host asked for, else a placeholder.
func (s *session) apName(asked string) string {
	switch {
	case s.cfg.SSID != "":
		return s.cfg.SSID
	case asked != "":
		return asked
	}
	return "emulator-ap"
}

// reboot resets the chip: every link and the server vanish without a
// message (their real sockets are closed), pending work is cancelled,
// settings return to power-up defaults, input is lost until the boot log,
// some junk and ready have been written.
func (s *session) reboot(cause bootCause) {
	s.log.Info("module reset", "watchdog", cause == bootWatchdog)
	s.e.count(func(st *Stats) { st.Resets++ })
	s.echoHold = false
	s.flushEcho()
	s.gen++
	s.opCancel()
	s.opCtx, s.opCancel = context.WithCancel(s.ctx)
	s.dropAll()
	s.send = nil
	s.inLine, s.head, s.line, s.overlong = false, [2]byte{}, s.line[:0], false
	s.joined, s.hadLink = false, false
	s.set = s.defaults()
	s.rx = rxResetting
	s.out.pushBaud(s.set.baud)
	s.after(20*s.cfg.Latency, func() {
		s.put(bootLog(cause, s.faults))
		s.put("\r\nready\r\n")
		s.rx = rxIdle
		s.autoconnect()
	})
}

// bootLog is what the ROM and the SDK print after a reset, as seen at the AT
// baud rate: a readable ROM log, then junk from output at 74880 baud.
func bootLog(cause bootCause, in *injector) string {
	var b strings.Builder
	if cause == bootWatchdog {
		b.WriteString("\r\n ets Jan  8 2013,rst cause:4, boot mode:(3,6)\r\n\r\nwdt reset\r\n")
	} else {
		b.WriteString("\r\n ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n\r\n")
	}
	b.WriteString("load 0x40100000, len 2592, room 16 \r\ntail 0\r\nchksum 0xf3\r\n" +
		"load 0x3ffe8000, len 764, room 8 \r\ntail 4\r\nchksum 0x92\r\n" +
		"load 0x3ffe82fc, len 676, room 4 \r\ntail 0\r\nchksum 0x22\r\ncsum 0x22\r\n\r\n" +
		"2nd boot version : 1.7(5d6f877)\r\n  SPI Speed      : 40MHz\r\n  SPI Mode       : QIO\r\n" +
		"  SPI Flash Size & Map: 32Mbit(512KB+512KB)\r\njump to run user1 @ 1000\r\n\r\n")
	n := 16 + in.intn(32)
	for i := 0; i < n; i++ {
		b.WriteByte(byte(0x80 + in.intn(0x7f)))
	}
	return b.String()
}

// sdkNoise are lines the SDK prints on the AT port on some builds.
var sdkNoise = []string{
	"state: 5 -> 0 (0)", "rm 0", "pm open,type:2 0", "add 0", "aid 1", "cnt ",
	"scandone", "no ssid found, reconnect after 1s", "reconnect", "f 0, ",
	"chg_B1:-40", "foo bar", "bcn 0", "del if0", "usl", "sleep enable,type: 2",
	"mode : sta(5c:cf:7f:80:26:6a)", "ip:192.168.4.2,mask:255.255.255.0,gw:192.168.4.1",
}

// garbageLine is one noise line for the garbage fault. It never looks like
// a message a driver acts on (no OK, ERROR, CONNECT, CLOSED, +IPD, >, busy
// or ready).
func garbageLine(in *injector) []byte {
	var text string
	if in.intn(3) == 0 {
		const chars = "abcdefghijklmnopqrstuvwxyz0123456789 .:-_=#()"
		for {
			var b strings.Builder
			for i, n := 0, 4+in.intn(24); i < n; i++ {
				b.WriteByte(chars[in.intn(len(chars))])
			}
			text = b.String()
			if !strings.Contains(text, "ready") && !strings.Contains(text, "busy") {
				break
			}
		}
	} else {
		text = sdkNoise[in.intn(len(sdkNoise))]
	}
	if in.intn(2) == 0 {
		return []byte("\r\n" + text + "\r\n")
	}
	return []byte(text + "\r\n")
}
