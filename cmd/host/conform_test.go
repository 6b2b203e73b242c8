package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ifsock/ifsock/sdk/sdktest"
)

// TestConformBuiltin: `host conform lo0` runs every case of the suite on
// the loopback's plugin and prints one line per case, with its tier and
// rule, then the summary; every MUST passes, so it exits 0.
func TestConformBuiltin(t *testing.T) {
	out, errOut, code := runHost(t, nil, "conform", "lo0")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, c := range sdktest.Cases() {
		line := regexp.MustCompile(`(?m)^(PASS|SKIP)\s+` + string(c.Tier) + `\s+` + regexp.QuoteMeta(c.Rule) + `\s+` + regexp.QuoteMeta(c.Name) + `\s`)
		if !line.MatchString(out) {
			t.Errorf("no passing line for case %s (%s, %s) in:\n%s", c.Name, c.Tier, c.Rule, out)
		}
	}
	if !strings.Contains(out, "skipped: no peer outside the driver") {
		t.Errorf("the outside cases' skips do not say why:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^\d+ cases: \d+ passed, 0 failed \(0 MUST\), \d+ skipped$`).MatchString(out) {
		t.Errorf("no summary line:\n%s", out)
	}
}

// TestConformBrokenPlugin: an external plugin that loses data fails the
// MUST cases that move more than 1,000 bytes: `host conform` says which,
// with -v why, and exits 1; --run narrows the run to the cases it names.
func TestConformBrokenPlugin(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "lossy-plugin"), "./testdata/lossy-plugin").CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	out, errOut, code := runHost(t, nil, "--plugin-dir", dir, "--iface", "x0=lossy", "conform", "-v", "--run", "^Echo$/^(1B|1MiB)$", "x0")
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !regexp.MustCompile(`(?m)^PASS\s+MUST\s+rule 2\s+Echo/1B\s`).MatchString(out) {
		t.Errorf("Echo/1B should pass:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^FAIL\s+MUST\s+rule 2\s+Echo/1MiB\s`).MatchString(out) {
		t.Errorf("Echo/1MiB should fail:\n%s", out)
	}
	if strings.Contains(out, "Echo/64KiB") {
		t.Errorf("--run did not narrow the run:\n%s", out)
	}
	if !strings.Contains(out, "2 cases: 1 passed, 1 failed (1 MUST), 0 skipped") {
		t.Errorf("wrong summary:\n%s", out)
	}
	if !strings.Contains(errOut, "does not conform") {
		t.Errorf("stderr does not say the driver does not conform: %q", errOut)
	}
	// -v: the failure's detail follows its line, indented.
	if !regexp.MustCompile(`(?m)^FAIL .*Echo/1MiB.*\n {8}\S`).MatchString(out) {
		t.Errorf("-v printed no detail under the failure:\n%s", out)
	}

	_, errOut, code = runHost(t, nil, "conform", "--run", "NoSuchCase", "lo0")
	if code != 2 || !strings.Contains(errOut, "matches no case") {
		t.Errorf("--run matching nothing: exit %d, stderr %q; want 2 and a clear error", code, errOut)
	}
}
