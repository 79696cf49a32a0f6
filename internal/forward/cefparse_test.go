package forward_test

import (
	"fmt"
	"strings"
)

// cefRecord is a CEF record split back by the specification's rules, with
// a parser written apart from the formatter: seven header fields and the
// extension's key=value pairs, unescaped.
type cefRecord struct {
	header []string
	ext    []cefPair
}

type cefPair struct{ key, value string }

func (r cefRecord) get(key string) (string, bool) {
	for _, p := range r.ext {
		if p.key == key {
			return p.value, true
		}
	}
	return "", false
}

func parseCEF(s string) (cefRecord, error) {
	var r cefRecord
	var field strings.Builder
	i := 0
	for len(r.header) < 7 {
		if i >= len(s) {
			return r, fmt.Errorf("header ends after %d fields", len(r.header))
		}
		switch c := s[i]; c {
		case '\\':
			if i+1 >= len(s) || (s[i+1] != '\\' && s[i+1] != '|') {
				return r, fmt.Errorf("bad escape in header at %d", i)
			}
			field.WriteByte(s[i+1])
			i += 2
			continue
		case '|':
			r.header = append(r.header, field.String())
			field.Reset()
		case '\n', '\r':
			return r, fmt.Errorf("line break in header at %d", i)
		default:
			field.WriteByte(c)
		}
		i++
	}
	if r.header[0] != "CEF:0" {
		return r, fmt.Errorf("header starts %q", r.header[0])
	}
	ext := s[i:]
	for j := 0; j < len(ext); {
		k := keyAt(ext[j:])
		if k == 0 {
			return r, fmt.Errorf("extension: no key at %d in %q", j, ext[j:])
		}
		p := cefPair{key: ext[j : j+k]}
		j += k + 1
		var v strings.Builder
		for j < len(ext) {
			c := ext[j]
			if c == '\\' {
				if j+1 >= len(ext) {
					return r, fmt.Errorf("extension: trailing backslash")
				}
				switch ext[j+1] {
				case '\\', '=':
					v.WriteByte(ext[j+1])
				case 'n':
					v.WriteByte('\n')
				case 'r':
					v.WriteByte('\r')
				default:
					return r, fmt.Errorf("extension: bad escape \\%c", ext[j+1])
				}
				j += 2
				continue
			}
			if c == '=' {
				return r, fmt.Errorf("extension: unescaped = in the value of %s", p.key)
			}
			if c == '\n' || c == '\r' {
				return r, fmt.Errorf("extension: line break in the value of %s", p.key)
			}
			if c == ' ' && keyAt(ext[j+1:]) > 0 {
				j++
				break
			}
			v.WriteByte(c)
			j++
		}
		p.value = v.String()
		r.ext = append(r.ext, p)
	}
	return r, nil
}

// keyAt returns the length of the extension key that s starts with, when
// an unescaped '=' follows it, else 0.
func keyAt(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_':
		case c == '=' && i > 0:
			return i
		default:
			return 0
		}
	}
	return 0
}
