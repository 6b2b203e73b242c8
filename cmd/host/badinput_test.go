package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The bad inputs of issue 9, as a user types them: each fails at once with
// one short line on stderr and a non-zero exit, or (--help) prints usage.

// TestBadIfaceDefinitionFailsEveryCommand: a setting no driver knows fails
// the command, whichever interfaces it uses, with the error on stderr.
func TestBadIfaceDefinitionFailsEveryCommand(t *testing.T) {
	for _, args := range [][]string{
		{"--iface", "eth0=hostnet,bnid=0.0.0.0", "ifaces"},
		{"--iface", "eth0=hostnet,bnid=0.0.0.0", "demo"},
		{"--iface", "eth0=hostnet,bnid=0.0.0.0", "--iface", "lo0=loopback", "connect", "lo0", "127.0.0.1", "1"},
	} {
		out, errOut, code := runHost(t, strings.NewReader(""), args...)
		if code != 1 || out != "" || !strings.Contains(errOut, "unknown setting bnid") || !strings.Contains(errOut, "eth0") ||
			strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("host %v: exit %d, stdout %q, stderr %q; want exit 1 and one line on stderr naming eth0 and bnid", args, code, out, errOut)
		}
	}
}

// TestHelpFlags: every command's --help and -h print its usage on stdout
// and exit 0, as the top-level --help does.
func TestHelpFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "commands:"},
		{[]string{"-h"}, "commands:"},
		{[]string{"help"}, "commands:"},
		{[]string{"help", "connect"}, "--linger"},
		{[]string{"listen", "--help"}, "--echo"},
		{[]string{"listen", "-h"}, "--echo"},
		{[]string{"listen", "--echo", "--help"}, "--echo"},
		{[]string{"connect", "--help"}, "--linger"},
		{[]string{"connect", "-h"}, "--linger"},
		{[]string{"demo", "--help"}, "demo"},
		{[]string{"ifaces", "-h"}, "ifaces"},
		{[]string{"sim", "--help"}, "--firmware"},
		{[]string{"sim", "esp8266", "--help"}, "--firmware"},
		// Help needs no valid interface: nothing starts.
		{[]string{"--iface", "eth0=hostnet,bnid=0.0.0.0", "listen", "--help"}, "--echo"},
	} {
		out, errOut, code := runHost(t, nil, c.args...)
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "usage: host") || !strings.Contains(out, c.want) {
			t.Errorf("host %v: exit %d, stdout %q, stderr %q; want exit 0 and usage mentioning %q on stdout", c.args, code, out, errOut, c.want)
		}
	}
}

// TestConfigFileBadInput: a config file that is not exactly one JSON
// object of known fields, or not a regular file, fails with the file's
// name and what is wrong.
func TestConfigFileBadInput(t *testing.T) {
	dir := t.TempDir()
	const good = `{"interfaces": [{"name": "lo1", "driver": "loopback"}]}`
	for _, c := range []struct{ name, body, want string }{
		{"trailing", good + "}", "after the JSON object"},
		{"second", good + good, "after the JSON object"},
		{"duplicate", `{"interfaces": [{"name": "lo1", "driver": "loopback", "driver": "hostnet"}]}`, `"driver" appears twice`},
		{"loudest", `{"log_level": "loudest", "interfaces": []}`, "loudest"},
	} {
		path := filepath.Join(dir, c.name+".json")
		if err := os.WriteFile(path, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := runHost(t, nil, "--config", path, "ifaces")
		if code != 1 || out != "" || !strings.Contains(errOut, path) || !strings.Contains(errOut, c.want) ||
			strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and one line naming %s and %q", c.name, code, out, errOut, path, c.want)
		}
	}

	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), "--config", fifo, "ifaces")
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("host --config FIFO still blocked after 10s")
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(errOut.String(), "not a regular file") {
		t.Fatalf("host --config FIFO: %v, stderr %q; want exit 1 saying it is not a regular file", err, errOut.String())
	}
}

// TestHugeArgumentsShortErrors: a 100 KB name, setting or URL host gets an
// error line of a few hundred bytes, not the input echoed back.
func TestHugeArgumentsShortErrors(t *testing.T) {
	huge := strings.Repeat("a", 100_000)
	for _, args := range [][]string{
		{"--iface", huge + "=loopback", "ifaces"},
		{"--iface", "eth0=hostnet,bind=" + huge, "ifaces"},
		{"--iface", "eth0=" + huge, "ifaces"},
		{"--config", huge[:200], "ifaces"},
		{"--log-level", huge, "ifaces"},
		{"connect", "lo0", "tcp://" + huge + ":80"},
		{huge},
	} {
		_, errOut, code := runHost(t, strings.NewReader(""), args...)
		if code == 0 || len(errOut) > 600 {
			t.Errorf("host %.60q...: exit %d, stderr of %d bytes: %.300s", args, code, len(errOut), errOut)
		}
	}
}

// TestHugeSettingInConfigFile: a 10 MB setting (too big for a command line,
// not for a file) is a bad argument before it reaches the plugin.
func TestHugeSettingInConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.json")
	body := `{"interfaces": [{"name": "lo1", "driver": "loopback", "settings": {"buffer": "` + strings.Repeat("9", 10<<20) + `"}}]}`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runHost(t, nil, "--config", path, "ifaces")
	if code != 1 || out != "" || !strings.Contains(errOut, "bad argument") || strings.Contains(errOut, "internal") || len(errOut) > 600 {
		t.Errorf("exit %d, stdout %.200q, stderr %.300q; want exit 1 and a short bad argument", code, out, errOut)
	}
}
