package delaynet_test

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The driver guide (docs/driver-guide.md) teaches with this module's code.
// Each Go block of the guide is a region of a file that CI builds, so the
// guide cannot drift from code that compiles: the block follows a comment
//
//	<!-- from examples/delaynet/driver.go:open -->
//
// and must equal the lines between "// guide:open" and "// guide:end" in
// that file. TestGuide checks every such block, that every Go block of the
// guide has one, and that every region of this module appears in the guide.

var update = flag.Bool("update", false, "rewrite the guide's blocks from the regions they include")

// repoRoot is the repository's root, from this module's directory.
const repoRoot = "../.."

var (
	fromComment = regexp.MustCompile(`^<!-- from ([^ :]+):([A-Za-z0-9_-]+) -->$`)
	regionStart = regexp.MustCompile(`^\s*// guide:([A-Za-z0-9_-]+)$`)
)

// block is a fenced code block of the guide.
type block struct {
	line, end  int    // of its opening and closing fences
	lang       string // after the fence: go, sh...
	from, name string // its region, when a from comment precedes it
	text       string
}

func TestGuide(t *testing.T) {
	guide := filepath.Join(repoRoot, "docs", "driver-guide.md")
	blocks, err := guideBlocks(guide)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	var fresh []string // with -update: the guide's lines, blocks refreshed
	if *update {
		src, err := os.ReadFile(guide)
		if err != nil {
			t.Fatal(err)
		}
		fresh = strings.Split(string(src), "\n")
	}
	for i := len(blocks) - 1; i >= 0; i-- { // backwards: refreshing keeps earlier line numbers
		b := blocks[i]
		if b.from == "" {
			if b.lang == "go" {
				t.Errorf("%s:%d: a Go block without a <!-- from FILE:REGION --> comment: keep Go code in a file CI builds, and include it", guide, b.line)
			}
			continue
		}
		want, err := region(filepath.Join(repoRoot, filepath.FromSlash(b.from)), b.name)
		if err != nil {
			t.Errorf("%s:%d: %v", guide, b.line, err)
			continue
		}
		used[b.from+":"+b.name] = true
		if *update {
			fresh = append(fresh[:b.line], append(strings.Split(want, "\n"), fresh[b.end-1:]...)...)
			continue
		}
		if b.text != want {
			t.Errorf("%s:%d: the block differs from region %q of %s; paste the region again. The region:\n%s", guide, b.line, b.name, b.from, want)
		}
	}
	if *update {
		if err := os.WriteFile(guide, []byte(strings.Join(fresh, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Every region of the module is in the guide: none is left to rot.
	err = filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		names, err := regionNames(path)
		for _, n := range names {
			if key := "examples/delaynet/" + filepath.ToSlash(path) + ":" + n; !used[key] {
				t.Errorf("region %s is in no block of the guide: include it with <!-- from %s -->, or remove its markers", key, key)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// guideBlocks returns the fenced code blocks of the markdown file path.
func guideBlocks(path string) ([]block, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		blocks             []block
		cur                *block
		body               []string
		from, name         string
		lastNonBlank, line int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line++
		l := sc.Text()
		switch {
		case cur != nil && strings.TrimSpace(l) == "```":
			cur.end = line
			cur.text = strings.Join(body, "\n")
			blocks = append(blocks, *cur)
			cur, body = nil, nil
		case cur != nil:
			body = append(body, l)
		case strings.HasPrefix(l, "```"):
			cur = &block{line: line, lang: strings.TrimSpace(strings.TrimPrefix(l, "```"))}
			if lastNonBlank == line-1 || lastNonBlank == line-2 {
				cur.from, cur.name = from, name
			}
			from, name = "", ""
		case strings.TrimSpace(l) != "":
			from, name = "", ""
			if m := fromComment.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
				from, name = m[1], m[2]
			}
			lastNonBlank = line
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: a code block is not closed", path, cur.line)
	}
	return blocks, sc.Err()
}

// region returns the lines between "// guide:name" and the next
// "// guide:end" in file, without the blank lines at its ends.
func region(file, name string) (string, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	var (
		in    bool
		lines []string
		found bool
	)
	for l := range strings.SplitSeq(string(src), "\n") {
		switch m := regionStart.FindStringSubmatch(l); {
		case m != nil && m[1] == "end" && in:
			in = false
		case m != nil && m[1] == name:
			if found {
				return "", fmt.Errorf("%s: region %q is marked twice", file, name)
			}
			in, found = true, true
		case in:
			lines = append(lines, l)
		}
	}
	if !found {
		return "", fmt.Errorf("%s: no region %q (mark it with // guide:%s ... // guide:end)", file, name, name)
	}
	if in {
		return "", fmt.Errorf("%s: region %q has no // guide:end", file, name)
	}
	return string(bytes.Trim([]byte(strings.Join(lines, "\n")), "\n")), nil
}

// regionNames returns the names of the regions marked in file.
func regionNames(file string) ([]string, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var names []string
	for l := range strings.SplitSeq(string(src), "\n") {
		if m := regionStart.FindStringSubmatch(l); m != nil && m[1] != "end" {
			names = append(names, m[1])
		}
	}
	return names, nil
}
