package ingest

import (
	"bytes"
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/stele-audit/stele"
)

// The fast decoder reads the bodies producers send in one pass, without
// reflection: encoding/json spent about a quarter of the server's CPU on
// them under batched load. It accepts only a strict subset of what
// encoding/json accepts: exact field names, each at most once, values of
// the expected type, valid UTF-8, and the common escapes. Anything else, or
// anything wrong, it hands back (ok false) to the encoding/json path, which
// decides and names each problem. So wherever it answers, it gives what
// encoding/json would: FuzzFastDecodeAgrees holds it to that.

type scan struct {
	b []byte
	i int
}

func (s *scan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after whitespace, or 0 at the end.
func (s *scan) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// eat consumes c, after whitespace, if it is next.
func (s *scan) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// word consumes the literal w (true, false, null) if it is next.
func (s *scan) word(w string) bool {
	s.ws()
	if bytes.HasPrefix(s.b[s.i:], []byte(w)) {
		s.i += len(w)
		return true
	}
	return false
}

// str reads a string.
func (s *scan) str() (string, bool) {
	if !s.eat('"') {
		return "", false
	}
	start, ascii := s.i, true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(v) {
				return "", false // encoding/json would substitute U+FFFD
			}
			return string(v), true
		case c == '\\':
			return s.escaped(start)
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		s.i++
	}
	return "", false
}

// escaped finishes a string that holds escapes; s.i is at the first one.
func (s *scan) escaped(start int) (string, bool) {
	buf := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if !utf8.Valid(buf) {
				return "", false
			}
			return string(buf), true
		case c < 0x20:
			return "", false
		case c != '\\':
			buf = append(buf, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return "", false
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return "", false
			}
			if utf16.IsSurrogate(r) {
				// Only a well-formed pair; encoding/json turns the rest
				// into U+FFFD, which the slow path may do.
				if !bytes.HasPrefix(s.b[s.i:], []byte(`\u`)) {
					return "", false
				}
				s.i += 2
				lo, ok := s.hex4()
				if r = utf16.DecodeRune(r, lo); !ok || r == utf8.RuneError {
					return "", false
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (s *scan) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	s.i += 4
	return r, true
}

// number reads a number by JSON's grammar and returns its text.
func (s *scan) number() (json.Number, bool) {
	s.ws()
	start := s.i
	digits := func() bool {
		n := s.i
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
		}
		return s.i > n
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case !digits():
		return "", false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if !digits() {
			return "", false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if !digits() {
			return "", false
		}
	}
	return json.Number(s.b[start:s.i]), true
}

// object reads an object, calling field for each member with s just past
// the colon. A name seen twice ends the fast path: encoding/json would merge
// or overwrite, and the slow path knows which.
func (s *scan) object(field func(name string) bool) bool {
	if !s.eat('{') {
		return false
	}
	if s.eat('}') {
		return true
	}
	var names [16]string // on the stack: an event has 14 fields
	seen := names[:0]
	for {
		name, ok := s.key()
		if !ok || !s.eat(':') {
			return false
		}
		for _, n := range seen {
			if n == name {
				return false
			}
		}
		seen = append(seen, name)
		if !field(name) {
			return false
		}
		if s.eat(',') {
			continue
		}
		return s.eat('}')
	}
}

// key reads a member name. The name of a field of an event or of its
// parties comes back as a constant, without a copy of its own (a batch of
// 1,000 events has some 8,000 of them); any other name as str reads it. No
// field name holds a quote or a backslash, so a name that matches up to the
// next quote is the whole name.
func (s *scan) key() (string, bool) {
	if s.peek() != '"' {
		return "", false
	}
	rest := s.b[s.i+1:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	n := fieldName(rest[:j])
	if n == "" {
		return s.str()
	}
	s.i += j + 2
	return n, true
}

// fieldName returns b as a constant if it is a field name, else "".
func fieldName(b []byte) string {
	switch string(b) { // compiled to comparisons: no string is made
	case "account":
		return "account"
	case "time":
		return "time"
	case "action":
		return "action"
	case "category":
		return "category"
	case "outcome":
		return "outcome"
	case "ip":
		return "ip"
	case "user_agent":
		return "user_agent"
	case "request_id":
		return "request_id"
	case "description":
		return "description"
	case "idempotency_key":
		return "idempotency_key"
	case "actor":
		return "actor"
	case "target":
		return "target"
	case "source":
		return "source"
	case "metadata":
		return "metadata"
	case "type":
		return "type"
	case "id":
		return "id"
	case "name":
		return "name"
	case "email":
		return "email"
	}
	return ""
}

// optStr reads a string or null (which leaves a string field empty).
func (s *scan) optStr(dst *string) bool {
	if s.word("null") {
		return true
	}
	v, ok := s.str()
	*dst = v
	return ok
}

// input reads the member name of an event into in.
func (s *scan) input(in *Input, name string) bool {
	switch name {
	case "account":
		return s.optStr(&in.Account)
	case "time":
		return s.optStr(&in.Time)
	case "action":
		return s.optStr(&in.Action)
	case "category":
		return s.optStr(&in.Category)
	case "outcome":
		return s.optStr(&in.Outcome)
	case "ip":
		return s.optStr(&in.IP)
	case "user_agent":
		return s.optStr(&in.UserAgent)
	case "request_id":
		return s.optStr(&in.RequestID)
	case "description":
		return s.optStr(&in.Description)
	case "idempotency_key":
		return s.optStr(&in.IdempotencyKey)
	case "actor":
		if s.word("null") {
			return true
		}
		in.Actor = new(stele.Ref)
		return s.ref(&in.Actor.Type, &in.Actor.ID, &in.Actor.Name, &in.Actor.Email)
	case "target", "source":
		if s.word("null") {
			return true
		}
		r := new(InputRef)
		if name == "target" {
			in.Target = r
		} else {
			in.Source = r
		}
		return s.ref(&r.Type, &r.ID, &r.Name, nil)
	case "metadata":
		return s.metadata(in)
	}
	return false
}

// ref reads a party's object; email is nil for a party that has none.
func (s *scan) ref(typ, id, name, email *string) bool {
	return s.object(func(n string) bool {
		switch {
		case n == "type":
			return s.optStr(typ)
		case n == "id":
			return s.optStr(id)
		case n == "name":
			return s.optStr(name)
		case n == "email" && email != nil:
			return s.optStr(email)
		}
		return false
	})
}

// metadata reads an object of scalar values into in.meta, keeping its text
// in in.Metadata as json.RawMessage would.
func (s *scan) metadata(in *Input) bool {
	start := func() int { s.ws(); return s.i }()
	if s.word("null") {
		in.Metadata = s.b[start:s.i]
		return true
	}
	m := map[string]any{}
	ok := s.object(func(k string) bool {
		switch s.peek() {
		case '"':
			v, ok := s.str()
			m[k] = v
			return ok
		case 't':
			m[k] = true
			return s.word("true")
		case 'f':
			m[k] = false
			return s.word("false")
		case 'n':
			m[k] = nil
			return s.word("null")
		default:
			v, ok := s.number()
			m[k] = v
			return ok
		}
	})
	if !ok {
		return false
	}
	in.Metadata, in.meta = s.b[start:s.i], m
	return true
}

// decodeFast decodes a body in one pass, and reports false on anything the
// detailed path must look at: errors, and limits (an event longer than
// stele.MaxEventBytes, measured as Decode says).
func decodeFast(body []byte) ([]Input, bool) {
	s := scan{b: body}
	var (
		top    Input
		events []Input
	)
	start := func() int { s.ws(); return s.i }()
	ok := s.object(func(name string) bool {
		if name != "events" {
			return s.input(&top, name)
		}
		if !s.eat('[') || s.eat(']') {
			return false // null and [] go the slow way
		}
		// Room for the batch at once: an event takes 100 bytes or more.
		events = make([]Input, 0, min(len(body)/100+1, stele.MaxBatchEvents+1))
		for {
			events = append(events, Input{})
			s.ws()
			from := s.i
			if !s.object(func(n string) bool { return s.input(&events[len(events)-1], n) }) || s.i-from > stele.MaxEventBytes {
				return false
			}
			if s.eat(',') {
				continue
			}
			return s.eat(']')
		}
	})
	end := s.i
	if s.ws(); !ok || s.i != len(body) {
		return nil, false
	}
	if events == nil {
		if end-start > stele.MaxEventBytes {
			return nil, false
		}
		return []Input{top}, true
	}
	if !top.isZero() || len(events) > stele.MaxBatchEvents {
		return nil, false
	}
	return events, true
}
