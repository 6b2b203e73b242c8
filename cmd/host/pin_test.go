package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPluginPinFlagAndConfig: --plugin-sha256 and a config file's
// plugin_sha256 pin an external plugin; a wrong pin stops it with an error
// on stderr; a driver name that is a path is refused.
func TestPluginPinFlagAndConfig(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "extnet-plugin")
	out, err := exec.Command("go", "build", "-o", bin, "../../plugins/hostnet/cmd/hostnet-plugin").CombinedOutput()
	if err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	good, wrong := hex.EncodeToString(s[:]), strings.Repeat("ab", 32)

	stdout, errOut, code := runHost(t, nil, "--plugin-dir", dir, "--plugin-sha256", "extnet="+good, "--iface", "x0=extnet", "ifaces")
	if code != 0 || !strings.HasPrefix(stdout, "x0\textnet\tup") {
		t.Fatalf("right pin: exit %d, stdout %q, stderr %q", code, stdout, errOut)
	}
	_, errOut, code = runHost(t, nil, "--plugin-dir", dir, "--plugin-sha256", "extnet="+wrong, "--iface", "x0=extnet", "ifaces")
	if code == 0 || !strings.Contains(errOut, "pin") {
		t.Errorf("wrong pin: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = runHost(t, nil, "--plugin-sha256", "nonsense", "ifaces")
	if code != 2 || !strings.Contains(errOut, "NAME=SHA256") {
		t.Errorf("malformed flag: exit %d, stderr %q", code, errOut)
	}
	cfg := filepath.Join(dir, "c.json")
	if err := os.WriteFile(cfg, []byte(`{"plugin_dir": "`+dir+`", "plugin_sha256": {"extnet": "`+wrong+`"},
		"interfaces": [{"name": "x0", "driver": "extnet"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runHost(t, nil, "--config", cfg, "ifaces")
	if code == 0 || !strings.Contains(errOut, "pin") {
		t.Errorf("wrong pin in the config file: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = runHost(t, nil, "--config", cfg, "--plugin-sha256", "extnet="+good, "ifaces")
	if code != 0 {
		t.Errorf("the flag's pin wins over the file's: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = runHost(t, nil, "--plugin-dir", dir, "--iface", "x0=../"+filepath.Base(dir)+"/extnet", "ifaces")
	if code == 0 || !strings.Contains(errOut, "plain name") {
		t.Errorf("a path as driver name: exit %d, stderr %q", code, errOut)
	}
}
