package esp8266

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// bringup makes the module ready for the driver: in step (AT), echo off,
// firmware dialect known (AT+GMR), station mode, on the WiFi network,
// multi-connection mode, connection details in +IPD, and passive receive
// where the firmware has it. It runs in the runner, at Open and after every
// module reset; a reset during it starts it again (three times at most).
func (s *session) bringup() error {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if err = s.bringupOnce(); err == nil || !errors.Is(err, errModuleReset) {
			return err
		}
		s.log.Warn("module restarted during bring-up; starting again", "attempt", attempt)
	}
	return err
}

// cmd runs one command from the runner itself.
func (s *session) cmd(line string, timeout time.Duration) reply {
	if timeout == 0 {
		timeout = s.cfg.timeout
	}
	return s.exec(&request{line: line, timeout: timeout})
}

// must runs a command that has to answer OK.
func (s *session) must(line string) error {
	rep := s.cmd(line, 0)
	if rep.err != nil {
		return rep.err
	}
	if rep.final != tokOK {
		return sdk.Errorf(sdk.ErrDevice, "module answered %s to %s (%s)", rep.final, line, strings.Join(rep.lines, "; "))
	}
	return nil
}

var versionRE = regexp.MustCompile(`AT version:(\d+)\.(\d+)\.(\d+)\.(\d+)`)

func (s *session) bringupOnce() error {
	s.tz.recvDataInfo.Store(false)
	if err := s.sync(); err != nil {
		return err
	}
	if err := s.must("ATE0"); err != nil {
		return err
	}

	// AT+GMR. A late OK from the sync can end one GMR early: ask again
	// until an answer carries the version line.
	var version string
	var major, minor int
	for i := 0; i < 3 && version == ""; i++ {
		rep := s.cmd("AT+GMR", 0)
		if rep.err != nil {
			return rep.err
		}
		for _, l := range rep.lines {
			if m := versionRE.FindStringSubmatch(l); m != nil {
				version = strings.Join(m[1:], ".")
				major, _ = strconv.Atoi(m[1])
				minor, _ = strconv.Atoi(m[2])
			}
		}
	}
	dialect := major
	switch s.cfg.firmware {
	case "1.7":
		dialect, major, minor = 1, 1, 7
	case "2.2":
		dialect, major, minor = 2, 2, 2
	default:
		if version == "" {
			return sdk.Errorf(sdk.ErrDevice, "AT+GMR gave no \"AT version:\" line: set firmware=1.7 or firmware=2.2")
		}
		if dialect != 1 && dialect != 2 {
			return sdk.Errorf(sdk.ErrDevice, "AT firmware %s is neither 1.x (NonOS AT) nor 2.x (ESP-AT): set firmware=1.7 or firmware=2.2 to try anyway", version)
		}
	}
	device := "ESP8266 AT " + version
	if version == "" {
		device = "ESP8266 AT (version unknown, firmware=" + s.cfg.firmware + ")"
	}
	s.log.Info("module found", "firmware", device, "dialect", fmt.Sprintf("%d.x", dialect))

	// Station mode.
	mode := "AT+CWMODE=1"
	if dialect == 1 {
		mode = "AT+CWMODE_CUR=1"
	}
	if err := s.must(mode); err != nil {
		return err
	}
	if err := s.join(dialect); err != nil {
		return err
	}

	// Links left open by an earlier run of the driver: close them all.
	s.cmd("AT+CIPSERVER=0", 0)
	s.cmd("AT+CIPCLOSE=5", 0)
	if err := s.must("AT+CIPMUX=1"); err != nil {
		return err
	}
	if s.cmd("AT+CIPDINFO=1", 0).ok() {
		s.tz.recvDataInfo.Store(true)
	}

	var station netip.Addr
	if rep := s.cmd("AT+CIFSR", 0); rep.ok() {
		if l, ok := rep.hasLine("+CIFSR:STAIP,"); ok {
			station, _ = netip.ParseAddr(strings.Trim(l[len("+CIFSR:STAIP,"):], `"`))
		}
	}

	passive := false
	hasPassive := dialect == 2 || (major == 1 && minor >= 7)
	switch {
	case s.cfg.passive == "off":
	case s.cfg.passive == "on" || hasPassive:
		rep := s.cmd("AT+CIPRECVMODE=1", 0)
		if rep.err != nil {
			return rep.err
		}
		passive = rep.final == tokOK
		if !passive && s.cfg.passive == "on" {
			return sdk.Errorf(sdk.ErrUnsupported, "setting passive=on: the module refused AT+CIPRECVMODE=1 (firmware %s); use passive=auto or off", version)
		}
	}
	if !passive {
		s.log.Info("active receive mode: the module sends data as it comes, with no flow control; each socket buffers at most its buffer setting and is dropped with an overflow error beyond it", "buffer", s.cfg.buffer)
	}

	s.mu.Lock()
	s.dialect, s.passive, s.device, s.stationIP = dialect, passive, device, station
	s.mu.Unlock()
	s.log.Debug("module ready", "passive", passive)
	return nil
}

// sync sends AT until the module answers OK, through boot garbage, a
// pending "ready" and busy answers.
func (s *session) sync() error {
	s.mu.Lock()
	s.syncing = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.syncing = false
		s.mu.Unlock()
	}()
	deadline := time.Now().Add(max(s.cfg.timeout, 5*time.Second))
	per := 300 * time.Millisecond
	var last error
	for time.Now().Before(deadline) {
		rep := s.exec(&request{line: "AT", timeout: per})
		switch {
		case rep.ok():
			return nil
		case errors.Is(rep.err, errClosing), s.ctx.Err() != nil:
			return errClosing
		}
		s.mu.Lock()
		failed := s.failErr
		s.mu.Unlock()
		if failed != nil {
			return failed
		}
		last = rep.err
		per = min(2*per, 2*time.Second)
	}
	return sdk.Errorf(sdk.ErrDevice, "the module does not answer AT (%v): check the port, the baud setting (%d) and the module's power", last, s.cfg.baud)
}

// join puts the module on the ssid network, unless join=false, no ssid is
// set, or it is on it already.
func (s *session) join(dialect int) error {
	if !s.cfg.join {
		return nil
	}
	if s.cfg.ssid == "" {
		s.log.Info("no ssid setting: keeping the network the module joins by itself")
		return nil
	}
	query, head, set := "AT+CWJAP?", "+CWJAP:", "AT+CWJAP="
	if dialect == 1 {
		query, head, set = "AT+CWJAP_CUR?", "+CWJAP_CUR:", "AT+CWJAP_CUR="
	}
	rep := s.cmd(query, 0)
	if rep.ok() {
		if l, ok := rep.hasLine(head); ok {
			f := splitFields(l[len(head):])
			if len(f) > 0 && unquoteAT(f[0]) == s.cfg.ssid {
				s.log.Info("module is on the network already", "ssid", s.cfg.ssid)
				return nil
			}
		}
	}
	s.log.Info("joining the network", "ssid", s.cfg.ssid)
	rep = s.exec(&request{
		line:    set + `"` + quoteAT(s.cfg.ssid) + `","` + quoteAT(s.cfg.password) + `"`,
		secret:  true,
		timeout: max(s.cfg.timeout, 30*time.Second),
	})
	if rep.err != nil {
		return rep.err
	}
	if rep.final == tokOK {
		return nil
	}
	why := "the module could not join"
	if l, ok := rep.hasLine("+CWJAP:"); ok {
		switch strings.TrimSpace(l[len("+CWJAP:"):]) {
		case "1":
			why = "connection timed out"
		case "2":
			why = "wrong password"
		case "3":
			why = "network not found"
		case "4":
			why = "connection failed"
		}
	}
	return sdk.Errorf(sdk.ErrUnreachable, "join WiFi network %q: %s: check the ssid and password settings", s.cfg.ssid, why)
}

// quoteAT escapes a string for a quoted AT parameter: backslash, double
// quote and comma take a backslash.
func quoteAT(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\', '"', ',':
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// unquoteAT undoes the quotes and escapes of a quoted AT field.
func unquoteAT(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
