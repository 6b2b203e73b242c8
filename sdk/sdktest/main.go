package sdktest

import (
	"regexp"
	"sync"
	"testing"
)

// MainTest is the name of the test under which Main runs the suite: its
// cases are the subtests MainTest/NAME (see Cases).
const MainTest = "Conformance"

// Main runs the suite outside `go test`, as a test binary runs its tests:
// it takes the -test.* flags (-test.v, -test.run, -test.timeout...) from
// os.Args and exits with the run's status, 0 when every case passed or
// skipped. It is the same Run that a driver's own test calls; tools such as
// `host conform` start it in a child process and read its -test.v output.
// Call it from main, never from a test.
func Main(h Harness) {
	testing.Main(matchString, []testing.InternalTest{{Name: MainTest, F: func(t *testing.T) { Run(t, h) }}}, nil, nil)
}

var (
	patMu sync.Mutex
	pats  = map[string]*regexp.Regexp{}
)

// matchString is the matcher `go test` gives test binaries: -test.run's
// patterns are regular expressions.
func matchString(pat, str string) (bool, error) {
	patMu.Lock()
	re, ok := pats[pat]
	patMu.Unlock()
	if !ok {
		var err error
		if re, err = regexp.Compile(pat); err != nil {
			return false, err
		}
		patMu.Lock()
		pats[pat] = re
		patMu.Unlock()
	}
	return re.MatchString(str), nil
}
