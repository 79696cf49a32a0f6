package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/stele-audit/stele"
)

// A name given twice in one object is refused. encoding/json keeps the last
// value and another parser may keep the first, so the record a producer
// meant to write and the one Stele stores could differ. The fast decoder
// hands any repeated name to the detailed path, which names it here.

// maxRepeatedDetails bounds the details one body's repeated names make, so
// that a body of a million repeats gets a short answer.
const maxRepeatedDetails = 100

// objectKind says how the names of an object are matched: to the fields of
// an envelope, event or party as encoding/json matches them (regardless of
// case), or as they decode (metadata, and anything deeper).
type objectKind int

const (
	kindEnvelope objectKind = iota // a body's top level: an event, or "events"
	kindEvent                      // an event of a batch
	kindParty                      // actor, target, source
	kindExact                      // metadata, and values inside it
)

// The names of the fields of each kind, by their folded form.
var (
	eventFields = folded("account", "time", "action", "category", "outcome", "actor", "target", "source",
		"ip", "user_agent", "request_id", "description", "metadata", "idempotency_key")
	envelopeFields = folded("events")
	partyFields    = folded("type", "id", "name", "email")
)

// field returns the field of kind that name matches, or "".
func (k objectKind) field(name []byte) string {
	if k == kindExact {
		return ""
	}
	// Names are nearly always written as the fields are: look those up
	// without folding.
	if f := fieldName(name); f != "" {
		party := f == "type" || f == "id" || f == "name" || f == "email"
		if party == (k == kindParty) {
			return f
		}
	} else if k == kindEnvelope && string(name) == "events" {
		return "events"
	}
	folded := foldName(string(name))
	switch k {
	case kindEnvelope:
		if f := envelopeFields[folded]; f != "" {
			return f
		}
		return eventFields[folded]
	case kindEvent:
		return eventFields[folded]
	default:
		return partyFields[folded]
	}
}

func folded(names ...string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[foldName(n)] = n
	}
	return m
}

// foldName folds a name as encoding/json does to match it to a field
// (ASCII letters to upper case, any other rune to the smallest of its fold
// set: "ſ" to "S"): names match when their folded forms are equal.
func foldName(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b = append(b, byte(r))
			continue
		}
		for { // the smallest rune of r's fold set
			f := unicode.SimpleFold(r)
			if f <= r {
				r = f
				break
			}
			r = f
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

// repeatedNames finds the names repeated in an object anywhere in body.
// top holds those of the body's own object (an event's fields, or the
// batch envelope's), nested those deeper, each with the index of its event
// and its JSON path (action, actor.id, metadata.role). A body that is not
// JSON has none: decoding reports its syntax error.
//
// It reads the body once, without decoding it: a name without escapes
// that is valid UTF-8 is its own decoding; any other is decoded by
// encoding/json, which decides what it names (U+FFFD for invalid bytes).
func repeatedNames(body []byte) (top, nested []stele.FieldError) {
	if !json.Valid(body) {
		return nil, nil
	}
	w := nameWalk{b: body, path: make([]step, 0, 8)}
	w.value(kindEnvelope)
	for _, d := range w.found {
		if d.top {
			top = append(top, d.FieldError)
		} else {
			nested = append(nested, d.FieldError)
		}
	}
	return top, nested
}

// nameWalk reads a body that json.Valid accepts.
type nameWalk struct {
	b     []byte
	i     int
	index int    // of the event being walked
	path  []step // where the walk is in that event
	found []repeat
}

type repeat struct {
	stele.FieldError
	top bool
}

func (w *nameWalk) ws() {
	for w.i < len(w.b) && (w.b[w.i] == ' ' || w.b[w.i] == '\t' || w.b[w.i] == '\n' || w.b[w.i] == '\r') {
		w.i++
	}
}

// value walks the value at w.i, at w.path; kind says how to match the
// names of an object there.
func (w *nameWalk) value(kind objectKind) {
	w.ws()
	switch w.b[w.i] {
	case '{':
		w.object(kind)
	case '[':
		w.i++
		for n := 0; ; n++ {
			if w.ws(); w.b[w.i] == ']' {
				w.i++
				return
			}
			if n > 0 {
				w.i++ // ,
				w.ws()
			}
			if c := w.b[w.i]; c == '{' || c == '[' {
				w.path = append(w.path, step{elem: n})
				w.value(kindExact)
				w.path = w.path[:len(w.path)-1]
			} else {
				w.scalar()
			}
		}
	default:
		w.scalar()
	}
}

// scalar skips a string, number, true, false or null.
func (w *nameWalk) scalar() {
	if w.b[w.i] == '"' {
		w.str()
		return
	}
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return
		}
		w.i++
	}
}

// str skips the string at w.i and returns its contents as written, and
// whether they are also its decoding (no escapes, valid UTF-8).
func (w *nameWalk) str() ([]byte, bool) {
	w.i++
	start, plain, ascii := w.i, true, true
	for {
		switch c := w.b[w.i]; {
		case c == '"':
			raw := w.b[start:w.i]
			w.i++
			return raw, plain && (ascii || utf8.Valid(raw))
		case c == '\\':
			plain = false
			w.i += 2
		default:
			ascii = ascii && c < utf8.RuneSelf
			w.i++
		}
	}
}

func (w *nameWalk) object(kind objectKind) {
	var names nameSet
	w.i++ // {
	for n := 0; ; n++ {
		if w.ws(); w.b[w.i] == '}' {
			w.i++
			return
		}
		if n > 0 {
			w.i++ // ,
			w.ws()
		}
		start := w.i
		raw, plain := w.str()
		name := raw
		if !plain {
			var s string
			json.Unmarshal(w.b[start:w.i], &s) // a valid string: cannot fail
			name = []byte(s)
		}
		w.ws()
		w.i++ // :
		w.ws()
		field := kind.field(name)
		key := name
		switch {
		case field != "" && field != string(name):
			key = []byte(field) // written in another case
		case field == "" && kind != kindExact:
			key = []byte(foldName(string(name))) // an unknown field, which decoding refuses
		}
		w.path = append(w.path, step{field: field, name: name, elem: -1})
		if names.add(key) == 2 {
			w.report(kind)
		}
		c := w.b[w.i]
		switch {
		case kind == kindEnvelope && field == "events":
			w.events()
			w.index = 0 // the envelope's other names are of the single event
		case c == '{' || c == '[':
			child := kindExact
			if field == "actor" || field == "target" || field == "source" {
				child = kindParty
			}
			w.value(child)
		default:
			w.scalar()
		}
		w.path = w.path[:len(w.path)-1]
	}
}

// events walks the value of a batch's "events", each event with its index.
func (w *nameWalk) events() {
	if w.b[w.i] != '[' {
		w.scalar() // not a list; decoding names the mistake
		return
	}
	// An event's paths start at the event.
	outer := w.path
	defer func() { w.path = outer }()
	w.path = w.path[len(w.path):]
	w.i++
	for w.index = 0; ; w.index++ {
		if w.ws(); w.b[w.i] == ']' {
			w.i++
			return
		}
		if w.index > 0 {
			w.i++ // ,
			w.ws()
		}
		if c := w.b[w.i]; c == '{' || c == '[' {
			w.value(kindEvent)
		} else {
			w.scalar()
		}
	}
}

// report records that the member at w.path repeats a name of its object.
func (w *nameWalk) report(kind objectKind) {
	if len(w.found) == maxRepeatedDetails {
		return
	}
	path, member := writePath(w.path), w.path[len(w.path)-1]
	msg := fmt.Sprintf("%q is given more than once; a name may appear once in an object", path)
	if member.field != "" && string(member.name) != member.field {
		msg = fmt.Sprintf("%q is given more than once (here as %q: names match fields regardless of case); a name may appear once in an object",
			path, shorten(string(member.name)))
	}
	w.found = append(w.found, repeat{top: kind == kindEnvelope,
		FieldError: stele.FieldError{Index: w.index, Field: path, Rule: "duplicate_key", Message: msg}})
}

// step is one step of a path in an event: a member of an object (by its
// field's name, or by its own when it has no field) or an element of an
// array. A path is only written out for a repeat: a deep body costs no
// string per level.
type step struct {
	field string // the member's field
	name  []byte // the member's name as decoded
	elem  int    // the element's index; -1 for a member
}

// maxPathSteps bounds the steps a path writes out: the outermost and the
// innermost, with "…" between them.
const maxPathSteps = 16

// writePath writes a path: actor.id, metadata.role, metadata.list[2].key.
func writePath(path []step) string {
	var b strings.Builder
	for i, p := range path {
		if n := len(path); n > maxPathSteps && i >= maxPathSteps/2 && i < n-maxPathSteps/2 {
			if i == maxPathSteps/2 {
				b.WriteString(".…")
			}
			continue
		}
		switch {
		case p.elem >= 0:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(p.elem))
			b.WriteByte(']')
			continue
		case i > 0:
			b.WriteByte('.')
		}
		if p.field != "" {
			b.WriteString(p.field)
		} else {
			b.WriteString(shorten(string(p.name)))
		}
	}
	return b.String()
}

// nameSet counts the names of one object. Most objects have a few names,
// compared in a list on the stack; a large one moves to a map.
type nameSet struct {
	n      int
	names  [16][]byte
	counts [16]int
	m      map[string]int
}

// add records name and returns how many times the object has given it.
func (s *nameSet) add(name []byte) int {
	if s.m != nil {
		s.m[string(name)]++
		return s.m[string(name)]
	}
	for i, n := range s.names[:s.n] {
		if bytes.Equal(n, name) {
			s.counts[i]++
			return s.counts[i]
		}
	}
	if s.n == len(s.names) {
		s.m = make(map[string]int, 2*len(s.names))
		for i, n := range s.names {
			s.m[string(n)] = s.counts[i]
		}
		s.m[string(name)] = 1
		return 1
	}
	s.names[s.n], s.counts[s.n] = name, 1
	s.n++
	return 1
}

// shorten cuts a name given by the producer to the length of a metadata
// key, for a path that echoes it.
func shorten(name string) string {
	if len(name) <= maxMetaKeyLen {
		return name
	}
	cut := maxMetaKeyLen
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + "…"
}
