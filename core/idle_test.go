package core_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
)

// idleSocketBound is the memory an idle eth0 socket may cost, host heap and
// plugin resident memory together, measured over 10,000 sockets. Measured
// this way, the data path before its rebuild cost 7.73-7.77 KiB a socket
// (593 B of host heap, about 7.2 KiB of plugin RSS, most of it the hostnet
// reader's stack and 4 KiB buffer) and the rebuilt one 7.80-7.82 KiB; the
// bound leaves room for noise, not for a regression of half a KiB.
const idleSocketBound = 8.25 * 1024

// TestIdleSocketMemory opens 10,000 idle eth0 client sockets through the
// hostnet plugin and measures what each costs the host's heap and the
// plugin's resident memory. (Under the race detector it opens fewer and
// only logs the figure: the detector's shadow memory swamps it.)
func TestIdleSocketMemory(t *testing.T) {
	n := 10000
	if raceEnabled {
		n = 1000
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted []net.Conn
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted = append(accepted, c)
		}
	}()
	defer func() {
		l.Close()
		<-acceptDone
		for _, c := range accepted {
			c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	h := newHost(t, core.IfaceConfig{Name: "eth0", Driver: "hostnet", Settings: map[string]string{"max_sockets": strconv.Itoa(n + 100)}})
	eth := iface(t, h, "eth0")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Warm up: the driver, the data path, the first sockets.
	for range 50 {
		s, err := eth.Connect(ctx, "127.0.0.1", port, core.Handlers{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
	}
	pid := eth.PID()
	heap0, rss0 := heapAfterGC(), rssKiB(t, pid)
	socks := make([]*core.Socket, 0, n)
	for range n {
		s, err := eth.Connect(ctx, "127.0.0.1", port, core.Handlers{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, s)
	}
	time.Sleep(200 * time.Millisecond) // let every reader settle
	heap1, rss1 := heapAfterGC(), rssKiB(t, pid)
	hostPer := float64(int64(heap1-heap0)) / float64(n)
	pluginPer := float64((rss1-rss0)*1024) / float64(n)
	t.Logf("%d idle eth0 sockets: host heap %.0f B, plugin RSS %.0f B, together %.2f KiB a socket", n, hostPer, pluginPer, (hostPer+pluginPer)/1024)
	if !raceEnabled && hostPer+pluginPer > idleSocketBound {
		t.Errorf("an idle eth0 socket costs %.2f KiB (host heap + plugin RSS), bound %.1f KiB", (hostPer+pluginPer)/1024, idleSocketBound/1024)
	}
	for _, s := range socks {
		s.Close()
	}
}

// rssKiB is a process's resident memory, from /proc.
func rssKiB(t *testing.T, pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	t.Fatalf("no VmRSS for process %d", pid)
	return 0
}
