package core_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// Processes for the benchmarks: the CPU time of this process and of a
// plugin process, and a second process serving echo (this test binary run
// again), so that a round trip between two processes can be measured next
// to one through a plugin.

// cpuMeter measures the CPU time (user and system) this process and some
// others spend between startCPU and report.
type cpuMeter struct {
	pids  []int
	start time.Duration
	ok    bool
}

// startCPU starts measuring the CPU time of this process and of the
// processes pids (zeros are skipped).
func startCPU(b *testing.B, pids []int) *cpuMeter {
	m := &cpuMeter{}
	for _, pid := range pids {
		if pid != 0 {
			m.pids = append(m.pids, pid)
		}
	}
	m.start, m.ok = m.now()
	return m
}

func (m *cpuMeter) now() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	t := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	for _, pid := range m.pids {
		d, err := processCPU(pid)
		if err != nil {
			return 0, false
		}
		t += d
	}
	return t, true
}

// report reports the CPU seconds spent per GB (1e9 bytes) moved, as
// cpu-s/GB; nothing when the CPU time could not be read.
func (m *cpuMeter) report(b *testing.B, bytes int64) {
	end, ok := m.now()
	if !ok || !m.ok || bytes == 0 {
		return
	}
	b.ReportMetric((end-m.start).Seconds()/(float64(bytes)/1e9), "cpu-s/GB")
}

// processCPU returns the user plus system time of every thread of process
// pid so far, from /proc/pid/stat (utime and stime, in clock ticks).
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after it start with the state (field 3).
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] { // utime (field 14) and stime (field 15)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %v", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / time.Duration(clockTicks()), nil
}

// clockTicks returns the kernel's clock ticks per second (sysconf's
// _SC_CLK_TCK), read from the auxiliary vector (AT_CLKTCK), 100 when it
// cannot be read.
var clockTicks = sync.OnceValue(func() int64 {
	const atClkTck = 17
	data, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 100
	}
	const word = int(unsafe.Sizeof(uintptr(0)))
	for ; len(data) >= 2*word; data = data[2*word:] {
		var key, val uint64
		if word == 8 {
			key, val = binary.NativeEndian.Uint64(data), binary.NativeEndian.Uint64(data[word:])
		} else {
			key, val = uint64(binary.NativeEndian.Uint32(data)), uint64(binary.NativeEndian.Uint32(data[word:]))
		}
		if key == atClkTck && val > 0 {
			return int64(val)
		}
	}
	return 100
})

// envEchoChild puts this test binary in echo mode: it serves echo on a Unix
// socket in the directory the variable names and on a TCP port of
// 127.0.0.1, prints both addresses on one stdout line, and exits when its
// stdin ends (its parent closed it, or died).
const envEchoChild = "IFSOCK_BENCH_ECHO_CHILD"

func init() {
	// Before TestMain: the echo child runs no test and serves no driver.
	if dir := os.Getenv(envEchoChild); dir != "" {
		if err := serveEchoChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "echo child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func serveEchoChild(dir string) error {
	ul, err := net.Listen("unix", filepath.Join(dir, "echo.sock"))
	if err != nil {
		return err
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	for _, l := range []net.Listener{ul, tl} {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() { defer c.Close(); echoLoop(c) }()
			}
		}()
	}
	if _, err := fmt.Printf("%s %s\n", ul.Addr(), tl.Addr()); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	ul.Close() // removes the socket file
	return nil
}

// echoChild starts the echo child and returns its Unix socket path and its
// TCP address; it ends with the benchmark.
func echoChild(b *testing.B) (unixAddr, tcpAddr string) {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	// Not b.TempDir: a Unix socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "ifsock-echo")
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envEchoChild+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 2 {
		b.Fatalf("echo child: %q, %v", line, err)
	}
	return f[0], f[1]
}
