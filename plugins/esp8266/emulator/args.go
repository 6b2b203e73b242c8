package emulator

import (
	"errors"
	"strconv"
	"strings"
)

// cmdKind is the form of an AT command: AT+X, AT+X?, AT+X=? or AT+X=...
type cmdKind int

const (
	kindExec  cmdKind = iota // AT+X
	kindQuery                // AT+X?
	kindTest                 // AT+X=?
	kindSet                  // AT+X=<args>
)

// command is one parsed command line, without the "AT" head and the line end.
type command struct {
	name string // "+CIPSTART", "" for plain AT, "E0"/"E1" for ATE
	kind cmdKind
	args []arg
}

// arg is one parameter of a set command.
type arg struct {
	s      string
	quoted bool
}

// parseCommand splits the text after "AT" into name, kind and parameters.
func parseCommand(body string) (command, error) {
	if body == "" || body[0] != '+' {
		return command{name: body, kind: kindExec}, nil
	}
	i := strings.IndexAny(body, "=?")
	if i < 0 {
		return command{name: body, kind: kindExec}, nil
	}
	c := command{name: body[:i]}
	rest := body[i:]
	switch {
	case rest == "?":
		c.kind = kindQuery
	case rest == "=?":
		c.kind = kindTest
	case rest[0] == '=':
		c.kind = kindSet
		args, err := parseArgs(rest[1:])
		if err != nil {
			return c, err
		}
		c.args = args
	default:
		return c, errors.New("malformed command")
	}
	return c, nil
}

// parseArgs splits AT parameters on commas outside double quotes. Inside
// quotes a backslash escapes the next byte (\" \, \\).
func parseArgs(s string) ([]arg, error) {
	var out []arg
	for {
		var a arg
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("unterminated string parameter")
			}
			a = arg{s: b.String(), quoted: true}
			s = s[i+1:]
			if s != "" && s[0] != ',' {
				return nil, errors.New("text after a string parameter")
			}
		} else {
			j := strings.IndexByte(s, ',')
			if j < 0 {
				j = len(s)
			}
			if strings.ContainsAny(s[:j], `"`) {
				return nil, errors.New("stray quote in parameter")
			}
			a = arg{s: s[:j]}
			s = s[j:]
		}
		out = append(out, a)
		if s == "" {
			return out, nil
		}
		s = s[1:] // the comma
	}
}

// num returns parameter i as an unquoted integer in [lo, hi].
func (c *command) num(i, lo, hi int) (int, bool) {
	if i >= len(c.args) || c.args[i].quoted {
		return 0, false
	}
	n, err := strconv.Atoi(c.args[i].s)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

// str returns parameter i as a quoted string.
func (c *command) str(i int) (string, bool) {
	if i >= len(c.args) || !c.args[i].quoted {
		return "", false
	}
	return c.args[i].s, true
}
