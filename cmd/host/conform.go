package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/sdk"
	"github.com/ifsock/ifsock/sdk/sdktest"
)

// `host conform IFACE` runs the driver conformance suite (sdktest.Run, the
// same code a driver's own test calls) against the driver of a configured
// interface, with no Go test code: a child process (this binary again, told
// by envConformChild) runs the suite as a test binary would, with fresh
// plugin processes of the interface's driver, and this one reads its
// -test.v output and prints one line per case.

// envConformChild puts the host binary in the child's role.
const envConformChild = "IFSOCK_CONFORM_CHILD"

// conformOptions are conform's flags, passed on to the child as they are.
type conformOptions struct {
	run      string
	verbose  bool
	selfHost string
	outside  string // "", "true" or "false": the driver's default when ""
	slow     float64
	ipv6     string   // "", "true" or "false": the driver's default when ""
	limits   []string // KEY=VALUE settings that make the socket limit small
	timeout  time.Duration
}

func parseConformArgs(args []string) (conformOptions, string, error) {
	var o conformOptions
	fs := flag.NewFlagSet("conform", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.run, "run", "", "run only the cases matching this regular expression (as go test -run, below the suite)")
	fs.BoolVar(&o.verbose, "v", false, "print each failure's detail and skip reason, and the drivers' log")
	fs.StringVar(&o.selfHost, "self-host", "", "the host the driver's Connect uses to reach its own listeners (127.0.0.1 by default; none: it cannot)")
	fs.StringVar(&o.outside, "outside", "", "true: peers outside the driver on 127.0.0.1 reach its listeners and its Connect reaches them")
	fs.StringVar(&o.ipv6, "ipv6", "", "true: the driver reaches ::1 (runs the IPv6 case)")
	fs.Float64Var(&o.slow, "slow", 0, "scale every time limit by this factor (a slow device)")
	fs.Var(ifaceFlag{&o.limits}, "limit", "a KEY=VALUE setting that makes the socket limit small (repeatable)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "abort the whole run after this long")
	if err := fs.Parse(args); err != nil {
		return o, "", fmt.Errorf("%w: conform: %v", errUsage, err)
	}
	if fs.NArg() != 1 {
		return o, "", fmt.Errorf("%w: conform takes one interface name", errUsage)
	}
	for flag, v := range map[string]string{"outside": o.outside, "ipv6": o.ipv6} {
		if v != "" && v != "true" && v != "false" {
			return o, "", fmt.Errorf("%w: conform: --%s %s: use true or false", errUsage, flag, core.QuoteInput(v))
		}
	}
	if o.run != "" {
		for _, alt := range alternatives(o.run) {
			for _, part := range splitTop(alt, '/') {
				if _, err := regexp.Compile(part); err != nil {
					return o, "", fmt.Errorf("%w: conform: --run %s: %v", errUsage, core.QuoteInput(o.run), err)
				}
			}
		}
	}
	for _, kv := range o.limits {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return o, "", fmt.Errorf("%w: conform: --limit %s: use KEY=VALUE", errUsage, core.QuoteInput(kv))
		}
	}
	return o, fs.Arg(0), nil
}

// driverDefaults is what the suite needs to know of a built-in driver that
// its Info does not say: how it reaches itself and the outside.
type driverDefaults struct {
	selfHost string
	outside  bool
	limits   sdk.Settings
	ipv6     bool
	slow     func(sdk.Settings) float64
}

var builtinDefaults = map[string]driverDefaults{
	"loopback": {selfHost: "127.0.0.1", limits: sdk.Settings{"max_sockets": "6"}, ipv6: true},
	"hostnet":  {selfHost: "127.0.0.1", outside: true, limits: sdk.Settings{"max_sockets": "4"}},
	"esp8266": {selfHost: "127.0.0.1", outside: true, slow: func(s sdk.Settings) float64 {
		// The suite's bulk cases cross the UART: scale with its rate.
		baud, err := strconv.Atoi(s["baud"])
		if err != nil || baud <= 0 {
			baud = 115200
		}
		return max(3, 3*921600/float64(baud))
	}},
}

// cmdConform runs the suite against iface's driver and prints its table.
// It returns an error (exit 1) unless every MUST case passed or skipped.
func cmdConform(h *core.Host, args []string, stdout, stderr io.Writer) error {
	o, name, err := parseConformArgs(args)
	if err != nil {
		return err
	}
	iface, err := h.Interface(name)
	if err != nil {
		return err
	}
	if os.Getenv(envConformChild) != "" {
		conformChild(iface, o) // exits
	}
	if err := checkOpens(iface); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("conform: cannot find this program to run the suite: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, hostArgs...)
	cmd.Env = append(os.Environ(), envConformChild+"=1")
	cmd.Stderr = io.Discard
	if o.verbose {
		cmd.Stderr = stderr
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("conform: starting the suite: %w", err)
	}
	fmt.Fprintf(stdout, "conformance of %s (driver %s), %s\n", iface.Name(), iface.Driver(), time.Now().Format(time.DateTime))
	rep := newConformReport(stdout, o.verbose, o.run)
	rep.read(out)
	waitErr := cmd.Wait()
	return rep.finish(waitErr)
}

// checkOpens opens and closes the interface's driver once, so that a bad
// definition or a missing device is one clear error rather than every case
// failing. The driver is closed before the suite opens its own.
func checkOpens(iface *core.Interface) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	d, err := iface.LaunchDriver(ctx)
	if err != nil {
		return fmt.Errorf("interface %s: %w", iface.Name(), err)
	}
	defer d.Close(context.Background())
	if _, err := d.Open(ctx, sdk.OpenRequest{Interface: iface.Name(), Settings: iface.Settings(), Events: noEvents{}}); err != nil {
		return fmt.Errorf("interface %s: %w", iface.Name(), err)
	}
	return d.Close(ctx)
}

// noEvents takes a driver's events and drops them.
type noEvents struct{}

func (noEvents) Accepted(sdk.Socket, sdk.Socket, netip.AddrPort) {}
func (noEvents) Received(sdk.Socket, []byte) error               { return nil }
func (noEvents) Finished(sdk.Socket)                             {}
func (noEvents) Dropped(sdk.Socket, error)                       {}

// conformChild runs the suite in this process as a test binary would, and
// exits with its status.
func conformChild(iface *core.Interface, o conformOptions) {
	def, ok := builtinDefaults[iface.Driver()]
	if !ok {
		// An external driver: assume it reaches its own listeners on
		// 127.0.0.1 (--self-host none says it does not).
		def = driverDefaults{selfHost: "127.0.0.1"}
	}
	settings := iface.Settings()
	h := sdktest.Harness{
		New: func(t testing.TB) sdk.Driver {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			d, err := iface.LaunchDriver(ctx)
			if err != nil {
				t.Fatalf("starting the %s driver: %v", iface.Driver(), err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_ = d.Close(ctx)
			})
			return d
		},
		Settings: settings,
		SelfHost: def.selfHost,
		IPv6:     def.ipv6,
	}
	switch o.selfHost {
	case "":
	case "none":
		h.SelfHost = ""
	default:
		h.SelfHost = o.selfHost
	}
	limits := def.limits
	if len(o.limits) > 0 {
		limits = sdk.Settings{}
		for _, kv := range o.limits {
			k, v, _ := strings.Cut(kv, "=")
			limits[k] = v
		}
	}
	if limits != nil {
		h.LimitSettings = settings.Clone()
		for k, v := range limits {
			h.LimitSettings[k] = v
		}
	}
	if o.ipv6 != "" {
		h.IPv6 = o.ipv6 == "true"
	}
	if def.slow != nil {
		h.Slow = def.slow(settings)
	}
	if o.slow > 0 {
		h.Slow = o.slow
	}
	if o.outside == "true" || (o.outside == "" && def.outside) {
		h.EchoServer = func(t testing.TB) (string, int) { return "127.0.0.1", echoServer(t) }
		h.Dial = func(t testing.TB, port int) (net.Conn, error) {
			return net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		}
		h.FreePort = conformFreePort
	}
	run := "^" + sdktest.MainTest + "$"
	if o.run != "" {
		// go test reads a top-level | as alternatives of whole patterns:
		// each goes below the suite.
		alts := alternatives(o.run)
		for i, a := range alts {
			alts[i] = run + "/" + a
		}
		run = strings.Join(alts, "|")
	}
	os.Args = []string{os.Args[0], "-test.v", "-test.run", run, "-test.timeout", o.timeout.String()}
	sdktest.Main(h)
	os.Exit(0) // not reached: Main exits
}

// echoServer serves an echo on 127.0.0.1 until the test ends: each
// connection's bytes go back until it ends, then it is closed.
func echoServer(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("echo server: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// conformFreePort returns a TCP port free on 127.0.0.1 a moment ago.
func conformFreePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// conformReport turns the child's -test.v output into the table.
type conformReport struct {
	w       io.Writer
	verbose bool
	cases   map[string]sdktest.Case
	order   []sdktest.Case
	result  map[string]string   // case name -> PASS, FAIL, SKIP
	detail  map[string][]string // case name -> its log lines
	current string
}

func newConformReport(w io.Writer, verbose bool, run string) *conformReport {
	r := &conformReport{w: w, verbose: verbose, cases: map[string]sdktest.Case{},
		result: map[string]string{}, detail: map[string][]string{}}
	for _, c := range sdktest.Cases() {
		if run == "" || matchesRun(run, c.Name) {
			r.order = append(r.order, c)
		}
		r.cases[c.Name] = c
	}
	return r
}

// matchesRun applies -test.run's rule below the suite: one of the
// pattern's alternatives matches when its slash-separated parts each match
// the name's part at the same level.
func matchesRun(run, name string) bool {
	parts := strings.Split(name, "/")
	for _, alt := range alternatives(run) {
		ok := true
		for i, p := range splitTop(alt, '/') {
			if i >= len(parts) {
				break
			}
			if m, _ := regexp.MatchString(p, parts[i]); !m {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// alternatives splits a -run pattern at its top-level |, as go test does.
func alternatives(run string) []string { return splitTop(run, '|') }

// splitTop splits s at each sep outside parentheses and brackets.
func splitTop(s string, sep byte) []string {
	var out []string
	depth, bracket, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case bracket:
			bracket = c != ']'
		case c == '[':
			bracket = true
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

var (
	eventLine  = regexp.MustCompile(`^=== (?:RUN|NAME|CONT|PAUSE)\s+` + sdktest.MainTest + `/(\S+)`)
	resultLine = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): ` + sdktest.MainTest + `/(\S+) \(`)
	sourceRef  = regexp.MustCompile(`^\w[\w.-]*\.go:\d+: `)
)

// caseOf maps a (sub)test name to the suite's case it belongs to.
func (r *conformReport) caseOf(name string) string {
	for n := name; ; {
		if _, ok := r.cases[n]; ok {
			return n
		}
		i := strings.LastIndexByte(n, '/')
		if i < 0 {
			return ""
		}
		n = n[:i]
	}
}

func (r *conformReport) read(out io.Reader) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := eventLine.FindStringSubmatch(line); m != nil {
			r.current = r.caseOf(m[1])
			continue
		}
		if m := resultLine.FindStringSubmatch(line); m != nil {
			if name := m[2]; r.cases[name].Name == name {
				r.result[name] = m[1]
				r.printCase(r.cases[name])
			}
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "--- ") || !strings.HasPrefix(line, " ") {
			r.current = "" // another result, or the run's own lines
			continue
		}
		if r.current != "" {
			text := sourceRef.ReplaceAllString(strings.TrimSpace(line), "")
			if text != "" {
				r.detail[r.current] = append(r.detail[r.current], text)
			}
		}
	}
}

func (r *conformReport) printCase(c sdktest.Case) {
	res := r.result[c.Name]
	if res == "" {
		res = "FAIL"
	}
	line := fmt.Sprintf("%-4s  %-6s  %-9s  %-38s  %s", res, c.Tier, c.Rule, c.Name, c.Checks)
	d := r.detail[c.Name]
	if res == "SKIP" && len(d) > 0 {
		line += " (skipped: " + harnessHints.Replace(d[len(d)-1]) + ")"
	}
	fmt.Fprintln(r.w, line)
	if res == "FAIL" && r.verbose {
		for _, l := range d {
			fmt.Fprintln(r.w, "        "+l)
		}
	}
}

// harnessHints turns the suite's words for a harness it lacks into the
// flag that gives it.
var harnessHints = strings.NewReplacer(
	"Harness.EchoServer is nil", "no peer outside the driver: --outside true if 127.0.0.1 reaches it",
	"Harness.Dial is nil", "no peer outside the driver: --outside true if 127.0.0.1 reaches it",
	"Harness.SelfHost", "--self-host",
	"Harness.EchoServer", "--outside true",
	"Harness.LimitSettings", "--limit KEY=VALUE",
	"Harness.IPv6 is false", "IPv6 is not known to work on this driver: --ipv6 true if it does",
)

// finish prints the cases that never reported and the summary, and says
// whether the driver conforms.
func (r *conformReport) finish(waitErr error) error {
	var pass, fail, skip, mustFail int
	for _, c := range r.order {
		res, ok := r.result[c.Name]
		if !ok {
			r.detail[c.Name] = append(r.detail[c.Name], "the case did not finish (the suite was aborted)")
			r.printCase(c)
			res = "FAIL"
		}
		switch res {
		case "PASS":
			pass++
		case "SKIP":
			skip++
		default:
			fail++
			if c.Tier == sdktest.Must {
				mustFail++
			}
		}
	}
	fmt.Fprintf(r.w, "%d cases: %d passed, %d failed (%d MUST), %d skipped\n", len(r.order), pass, fail, mustFail, skip)
	if len(r.order) == 0 {
		return fmt.Errorf("%w: conform: --run matches no case", errUsage)
	}
	if pass == 0 && fail == 0 {
		return fmt.Errorf("nothing was checked: every case skipped (see the reasons above)")
	}
	if mustFail > 0 {
		hint := ""
		if !r.verbose {
			hint = "; -v prints why"
		}
		return fmt.Errorf("the driver does not conform: %d MUST case(s) failed%s", mustFail, hint)
	}
	var exit *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exit) {
		return fmt.Errorf("conform: the suite did not run: %w", waitErr)
	}
	return nil
}
