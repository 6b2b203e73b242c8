package emulator

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Fault names one misbehaviour of real modules that the emulator can inject.
type Fault string

const (
	// FaultBusy answers an idle command line with "busy p..." and drops it.
	FaultBusy Fault = "busy"
	// FaultReset resets the module in the middle of a transfer (after the
	// CIPSEND payload, or after an +IPD): boot garbage, ready, links lost.
	FaultReset Fault = "reset"
	// FaultGarbage writes noise lines (SDK debug output, junk) between
	// messages, never inside a message or an +IPD payload.
	FaultGarbage Fault = "garbage"
	// FaultClosedBeforePrompt closes the link of a CIPSEND just before the
	// prompt: "<id>,CLOSED" then ERROR instead of the prompt.
	FaultClosedBeforePrompt Fault = "closed-before-prompt"
	// FaultSendFail answers a CIPSEND payload with SEND FAIL and does not
	// deliver it; the link stays up.
	FaultSendFail Fault = "send-fail"
	// FaultDNSFail makes every host name lookup (CIPSTART, CIPDOMAIN) fail.
	// IP literals still work. It is not random.
	FaultDNSFail Fault = "dns-fail"
	// FaultInterleave holds real unsolicited events (CONNECT, +IPD, CLOSED)
	// and releases them where real firmware interleaves them: inside the 1.x
	// command echo, after the CIPSEND prompt, after "Recv N bytes", when an
	// asynchronous command starts, or when the hold time ends. It is not
	// random.
	FaultInterleave Fault = "interleave"

	// The client-side faults below are deterministic (not random), except
	// error-before-closed, which fires like closed-before-prompt.

	// FaultShortRead answers every AT+CIPRECVDATA with fewer bytes than
	// asked and than buffered (about three eighths, at least one), as a
	// real module may: the rest stays buffered. Both dialects; in 1.x
	// passive mode a peer's close then prints "<id>,CLOSED" while data
	// is still buffered (readable until CIPCLOSE), as 1.x always does.
	FaultShortRead Fault = "short-read"
	// FaultLateSendFail (1.x) prints a second, late verdict for every
	// send: "\r\nSEND OK\r\nSEND FAIL\r\n". The data was sent and the
	// link stays up. 2.x ignores it.
	FaultLateSendFail Fault = "late-send-fail"
	// FaultErrorBeforeClosed closes the link of a CIPSEND just before the
	// prompt, answering as closed-before-prompt does but in the other
	// order: "link is not valid" (1.x) and ERROR first, then
	// "<id>,CLOSED". It fires at random.
	FaultErrorBeforeClosed Fault = "error-before-closed"

	// The server-side faults below are deterministic (not random).

	// FaultSilentNotice (2.x, passive receive) prints no +IPD notice for
	// the data a client sends right after it connected (esp-at#294:
	// "<id>,CONNECT" then silence); as 2.x sends no further notice until
	// the host reads, only AT+CIPRECVLEN? shows that data. 1.x ignores it.
	FaultSilentNotice Fault = "silent-notice"
	// FaultResetServing resets the module (watchdog: boot log, junk,
	// ready) once, when the first data arrives on a link its server
	// accepted: links and server are gone, CIPSERVER is off after it.
	FaultResetServing Fault = "reset-serving"
	// FaultBurstAccept announces a new client only once its first data
	// (or its close) came: "<id>,CONNECT", the +IPD (or passive notice)
	// and, for a client that already closed, "<id>,CLOSED" leave in one
	// burst, before the host could ask AT+CIPSTATUS.
	FaultBurstAccept Fault = "burst-accept"
	// FaultSysMsg starts the module with the AT+SYSMSG detail bit set (as
	// an earlier host left it; AT+SYSMSG_CUR on 1.x): connections are
	// announced as "+LINK_CONN:0,<id>,"TCP",<c/s>,"<ip>",<rport>,<lport>"
	// instead of "<id>,CONNECT".
	FaultSysMsg Fault = "sysmsg"
	// FaultIdleTimeout makes the module's CIPSTO timer close idle server
	// links after one second, whatever AT+CIPSTO asked.
	FaultIdleTimeout Fault = "idle-timeout"
	// FaultClientReset resets a client while the host writes to it: the
	// first CIPSEND on a server link gets its prompt, then "<id>,CLOSED"
	// (the peer sent RST), the payload is taken ("Recv N bytes") and SEND
	// FAIL follows. The link id is free at once for the next client.
	FaultClientReset Fault = "client-reset"
)

var allFaults = []Fault{FaultBusy, FaultReset, FaultGarbage, FaultClosedBeforePrompt, FaultSendFail, FaultDNSFail, FaultInterleave,
	FaultSilentNotice, FaultResetServing, FaultBurstAccept, FaultSysMsg, FaultIdleTimeout, FaultClientReset,
	FaultShortRead, FaultLateSendFail, FaultErrorBeforeClosed}

func (f Fault) valid() bool {
	for _, g := range allFaults {
		if f == g {
			return true
		}
	}
	return false
}

// ParseFaults parses a comma-separated list of fault names such as
// "busy,reset". Blanks around names and empty items are ignored; an unknown
// name is an error that lists the valid ones.
func ParseFaults(list string) ([]Fault, error) {
	var out []Fault
	for _, item := range strings.Split(list, ",") {
		name := strings.TrimSpace(item)
		if name == "" {
			continue
		}
		f := Fault(strings.ToLower(name))
		if !f.valid() {
			return nil, fmt.Errorf("emulator: unknown fault %q: valid faults are %s", name, validFaultList())
		}
		out = append(out, f)
	}
	return out, nil
}

// forceAt is the opportunity at which a random fault that has not fired yet
// fires anyway, so that every enabled fault shows up in a short session.
const forceAt = 3

// injector decides when faults fire. It is owned by the firmware goroutine.
type injector struct {
	on    map[Fault]bool
	rate  float64
	rng   *rand.Rand
	seen  map[Fault]int
	fired map[Fault]int
	count func(Fault)
}

func newInjector(faults []Fault, rate float64, seed int64, count func(Fault)) *injector {
	in := &injector{
		on:    map[Fault]bool{},
		rate:  rate,
		rng:   rand.New(rand.NewPCG(uint64(seed), 0x8266)),
		seen:  map[Fault]int{},
		fired: map[Fault]int{},
		count: count,
	}
	for _, f := range faults {
		in.on[f] = true
	}
	return in
}

// enabled reports whether f is configured, without using an opportunity.
func (in *injector) enabled(f Fault) bool { return in.on[f] }

// fire uses one opportunity of a random fault and reports whether it fires.
func (in *injector) fire(f Fault) bool {
	if !in.on[f] {
		return false
	}
	in.seen[f]++
	if in.rng.Float64() < in.rate || (in.fired[f] == 0 && in.seen[f] >= forceAt) {
		in.fired[f]++
		in.count(f)
		return true
	}
	return false
}

// always records a deterministic fault (dns-fail, interleave) that applied.
func (in *injector) always(f Fault) bool {
	if !in.on[f] {
		return false
	}
	in.fired[f]++
	in.count(f)
	return true
}

// intn is a random number in [0, n) from the session's seeded source.
func (in *injector) intn(n int) int { return in.rng.IntN(n) }
