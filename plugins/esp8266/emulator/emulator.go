package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Firmware names an emulated AT firmware dialect.
type Firmware string

const (
	// Firmware17 is Espressif's NonOS AT firmware 1.7 (the 1.x dialect).
	Firmware17 Firmware = "1.7"
	// Firmware22 is Espressif's ESP-AT firmware 2.2 for ESP8266 (the 2.x dialect).
	Firmware22 Firmware = "2.2"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultBaud      = 115200
	DefaultFaultRate = 0.05
	DefaultLatency   = 5 * time.Millisecond
	DefaultStationIP = "192.168.4.2"
)

// Config configures an Emulator. The zero value is usable: firmware 2.2 at
// 115200 baud, not joined, no faults.
type Config struct {
	// Firmware selects the dialect: Firmware17 or Firmware22 (the default).
	Firmware Firmware
	// Baud is the emulated UART rate (default 115200). Output leaves the
	// emulator at no more than Baud/10 bytes per second. AT+UART_CUR changes
	// it for the running session.
	Baud int
	// SSID and Password describe the one access point the module can join.
	// An empty SSID makes every AT+CWJAP succeed.
	SSID, Password string
	// Joined starts the module already associated (autoconnect to a stored
	// AP): WIFI CONNECTED and WIFI GOT IP follow ready.
	Joined bool
	// StationIP is the station address reported while joined
	// (default 192.168.4.2).
	StationIP string
	// Faults lists the misbehaviours to inject; see Fault and ParseFaults.
	Faults []Fault
	// FaultRate is the probability that a random fault fires at one
	// opportunity (default 0.05). Each random fault also fires at its third
	// opportunity if it has not fired before.
	FaultRate float64
	// PortOffset is added to the port of AT+CIPSERVER=1,<port>: the server
	// listens on 127.0.0.1:<port>+PortOffset.
	PortOffset int
	// AnyHostPort makes the server listen on a port of 127.0.0.1 the host
	// picks (port 0), whatever port AT+CIPSERVER names, instead of
	// <port>+PortOffset: ServerAddr says which. The module still reports
	// its own port (AT+CIPSERVER?, AT+CIPSTATUS). For tests that run many
	// emulators, each with the default server port 333, at once.
	AnyHostPort bool
	// Seed makes fault randomness repeatable.
	Seed int64
	// Latency is the minimum time an asynchronous command (CIPSTART,
	// CIPDOMAIN, CIPCLOSE, the send phase of CIPSEND) takes (default 5ms).
	// AT+CWJAP takes 4 times as long, a reset 20 times, and the interleave
	// fault holds events for at most 20 times Latency.
	Latency time.Duration
	// ErrCodes makes the 2.x dialect print "ERR CODE:0x%08x" before ERROR,
	// as with AT+SYSLOG=1. Ignored by 1.x.
	ErrCodes bool
	// Logger receives diagnostics; nil means no logging. The emulator never
	// writes to stdout.
	Logger hclog.Logger
}

// Stats counts what a running or finished emulator did. It is a snapshot.
type Stats struct {
	Commands    int64           // command lines executed or rejected
	BusyReplies int64           // busy p... / busy s... replies
	BytesIn     int64           // bytes read from the serial stream
	BytesOut    int64           // bytes written to the serial stream
	Resets      int64           // module resets (AT+RST, AT+RESTORE, reset fault)
	LinksOpened int64           // links established (CIPSTART and accepted)
	Faults      map[Fault]int64 // faults injected, by kind
}

// Emulator is an emulated ESP8266 module. It is safe for concurrent use, but
// it models one module on one serial line: only one Serve call may run at a
// time. Every Serve call starts from power-up.
type Emulator struct {
	cfg     Config
	log     hclog.Logger
	serving atomic.Bool

	mu         sync.Mutex // guards stats and serverAddr
	stats      Stats
	serverAddr net.Addr
}

// New validates cfg, fills in defaults and returns an emulator.
func New(cfg Config) (*Emulator, error) {
	switch cfg.Firmware {
	case "":
		cfg.Firmware = Firmware22
	case Firmware17, Firmware22:
	default:
		return nil, fmt.Errorf("emulator: unknown firmware %q: valid firmwares are %q and %q", cfg.Firmware, Firmware17, Firmware22)
	}
	if cfg.Baud == 0 {
		cfg.Baud = DefaultBaud
	}
	if cfg.Baud < 0 {
		return nil, fmt.Errorf("emulator: baud rate %d is negative", cfg.Baud)
	}
	if cfg.FaultRate == 0 {
		cfg.FaultRate = DefaultFaultRate
	}
	if cfg.FaultRate < 0 || cfg.FaultRate > 1 {
		return nil, fmt.Errorf("emulator: fault rate %v is outside [0, 1]", cfg.FaultRate)
	}
	for _, f := range cfg.Faults {
		if !f.valid() {
			return nil, fmt.Errorf("emulator: unknown fault %q: valid faults are %s", f, validFaultList())
		}
	}
	if cfg.Latency == 0 {
		cfg.Latency = DefaultLatency
	}
	if cfg.Latency < 0 {
		return nil, fmt.Errorf("emulator: latency %v is negative", cfg.Latency)
	}
	if cfg.StationIP == "" {
		cfg.StationIP = DefaultStationIP
	}
	if ip := net.ParseIP(cfg.StationIP); ip == nil || ip.To4() == nil {
		return nil, fmt.Errorf("emulator: station ip %q is not an ipv4 address", cfg.StationIP)
	}
	cfg.Faults = append([]Fault(nil), cfg.Faults...)
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Emulator{cfg: cfg, log: log, stats: Stats{Faults: map[Fault]int64{}}}, nil
}

// Serve runs the firmware over rw until ctx is done or rw fails. It emits the
// boot banner first and closes every link, listener and goroutine it started
// before it returns.
//
// Serve returns ctx.Err() when ctx is done, or an error wrapping the one that
// ended reading or writing rw (io.EOF when the stream ended). To stop a Read or
// Write blocked in rw, Serve sets a past deadline when rw has
// SetReadDeadline/SetWriteDeadline (net.Conn, *os.File of a pty) and clears it
// again before returning; for any other rw the caller must close rw to make
// Serve return. Only one Serve may run at a time per Emulator.
func (e *Emulator) Serve(ctx context.Context, rw io.ReadWriter) error {
	if rw == nil {
		return errors.New("emulator: serve needs a serial stream, got nil")
	}
	if !e.serving.CompareAndSwap(false, true) {
		return errors.New("emulator: already serving: one module has one serial line")
	}
	defer e.serving.Store(false)
	return newSession(e, rw).run(ctx)
}

// Stats returns a snapshot of the counters. It is safe to call at any time.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.Faults = make(map[Fault]int64, len(e.stats.Faults))
	for k, v := range e.stats.Faults {
		s.Faults[k] = v
	}
	return s
}

// ServerAddr returns the host address the emulated AT+CIPSERVER listens on,
// or nil when no server runs. It is safe to call at any time.
func (e *Emulator) ServerAddr() net.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.serverAddr
}

// Firmware returns the emulated dialect.
func (e *Emulator) Firmware() Firmware { return e.cfg.Firmware }

func (e *Emulator) count(f func(*Stats)) {
	e.mu.Lock()
	f(&e.stats)
	e.mu.Unlock()
}

func (e *Emulator) setServerAddr(a net.Addr) {
	e.mu.Lock()
	e.serverAddr = a
	e.mu.Unlock()
}

func validFaultList() string {
	names := make([]string, 0, len(allFaults))
	for _, f := range allFaults {
		names = append(names, string(f))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
