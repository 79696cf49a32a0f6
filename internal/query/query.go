// Package query parses the query language of the API, the CLI and the
// console's filter box into a [stele.Query].
//
// A query is a list of terms separated by whitespace (space, tab, CR, LF);
// the terms AND together. A term is either a qualifier, field:value, or a
// text word or "quoted phrase" that matches the description, names and
// metadata values. A leading - negates a term.
//
//	action:user.login,user.logout   any of the listed actions
//	action:user.*                   actions starting with "user."
//	category:authentication         one of stele.Categories
//	outcome:failure                 one of stele.Outcomes
//	actor:"Ada Lovelace"            actor id or email; also target:, source:
//	ip:203.0.113.7                  an IPv4 or IPv6 address
//	after:2026-11-01                RFC 3339, a date, a date and minute (UTC),
//	before:24h                      or a duration before now: 30m, 24h, 7d, 2w
//	-outcome:success -"dry run"     negation
//
// Values may be comma-separated lists and may be double-quoted, with \" and
// \\ as escapes (another backslash is kept as written). A word containing
// ':' is read as a qualifier; quote it to search for it as text.
//
// [stele.Query.String] renders a parsed query back into this language, and
// parsing that rendering gives the same query.
package query

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stele-audit/stele"
)

// Limits on a query.
const (
	MaxBytes       = 2048 // bytes of query text
	MaxTerms       = 32   // terms in the parsed query (after: and before: not counted)
	MaxValues      = 64   // values in one term
	MaxValueLength = 256  // characters in an actor, target or source value
)

// Qualifiers lists the qualifiers the language knows, in display order.
var Qualifiers = []string{"action", "category", "actor", "target", "source", "outcome", "ip", "after", "before"}

const (
	qualAfter  = "after"
	qualBefore = "before"
)

// Time bounds accepted by after: and before:. The lower bound is exclusive:
// stores treat a zero Unix time as "no bound".
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

var (
	prefixPattern   = regexp.MustCompile(`^[a-z0-9_.]+\*$`)
	relativePattern = regexp.MustCompile(`^([0-9]+)([mhdw])$`)
)

// Parse parses the query language. now resolves relative times such as
// after:24h, which also keep their text in AfterAgo or BeforeAgo. The empty (or all-blank) query is the zero Query. Errors are
// *stele.Error with code EINVALID and one detail on field "q" whose rule is
// one of syntax, unknown_field, format, enum, pattern, range, max_length or
// required.
func Parse(s string, now time.Time) (stele.Query, error) {
	if len(s) > MaxBytes {
		return stele.Query{}, fail("max_length", "the query is %d bytes long; the limit is %d", len(s), MaxBytes)
	}
	if !utf8.ValidString(s) {
		return stele.Query{}, fail("format", "the query is not valid UTF-8")
	}
	p := parser{s: s, now: now}
	if err := p.parse(); err != nil {
		return stele.Query{}, err
	}
	return p.q, nil
}

type parser struct {
	s   string
	pos int
	now time.Time
	q   stele.Query
}

// fail returns the EINVALID error the parser reports.
func fail(rule, format string, args ...any) *stele.Error {
	msg := fmt.Sprintf(format, args...)
	return &stele.Error{
		Code:    stele.EINVALID,
		Message: "query: " + msg,
		// Index 0: the query is a single input, as a single event is.
		Details: []stele.FieldError{{Index: 0, Field: "q", Rule: rule, Message: msg}},
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func (p *parser) eof() bool { return p.pos >= len(p.s) }

// atEnd reports whether the current term ends here.
func (p *parser) atEnd() bool { return p.eof() || isSpace(p.s[p.pos]) }

func (p *parser) parse() error {
	for {
		for !p.eof() && isSpace(p.s[p.pos]) {
			p.pos++
		}
		if p.eof() {
			break
		}
		if err := p.term(); err != nil {
			return err
		}
	}
	if !p.q.After.IsZero() && !p.q.Before.IsZero() && !p.q.After.Before(p.q.Before) {
		return fail("range", "after %s is not before before %s",
			p.q.After.Format(time.RFC3339Nano), p.q.Before.Format(time.RFC3339Nano))
	}
	return nil
}

// term parses one term starting at p.pos, which is not blank.
func (p *parser) term() error {
	start := p.pos
	negate := false
	if p.s[p.pos] == '-' {
		p.pos++
		if p.atEnd() {
			// A lone "-" negates nothing: search for it as text.
			return p.add(stele.Term{Field: stele.FieldText, Values: []string{"-"}})
		}
		negate = true
	}
	if p.s[p.pos] == '"' {
		v, err := p.quoted()
		if err != nil {
			return err
		}
		if !p.atEnd() {
			return fail("syntax", "unexpected %q after the quoted phrase at byte %d; separate terms with spaces", p.s[p.pos], p.pos)
		}
		if v == "" {
			return fail("required", "empty quoted phrase at byte %d", start)
		}
		return p.add(stele.Term{Field: stele.FieldText, Values: []string{v}, Negate: negate})
	}
	wordStart := p.pos
	for !p.atEnd() && p.s[p.pos] != ':' && p.s[p.pos] != '"' {
		p.pos++
	}
	word := p.s[wordStart:p.pos]
	if p.atEnd() {
		return p.add(stele.Term{Field: stele.FieldText, Values: []string{word}, Negate: negate})
	}
	if p.s[p.pos] == '"' {
		return fail("syntax", "unexpected quote at byte %d inside %q; quote whole words or values", p.pos, word)
	}
	// p.s[p.pos] == ':'
	p.pos++
	if word == "" {
		return fail("syntax", "missing qualifier before ':' at byte %d; quote the word to search for it as text", p.pos-1)
	}
	name := strings.ToLower(word)
	if !known(name) {
		return fail("unknown_field", "unknown qualifier %q (known: %s); quote the word to search for it as text",
			word+":", strings.Join(Qualifiers, ", "))
	}
	values, err := p.values(name)
	if err != nil {
		return err
	}
	if name == qualAfter || name == qualBefore {
		return p.timeBound(name, values, negate)
	}
	field := stele.Field(name)
	for i, v := range values {
		nv, err := check(field, v)
		if err != nil {
			return err
		}
		values[i] = nv
	}
	return p.add(stele.Term{Field: field, Values: values, Negate: negate})
}

func known(name string) bool {
	for _, k := range Qualifiers {
		if k == name {
			return true
		}
	}
	return false
}

func (p *parser) add(t stele.Term) error {
	if len(p.q.Terms) >= MaxTerms {
		return fail("max_length", "more than %d terms", MaxTerms)
	}
	p.q.Terms = append(p.q.Terms, t)
	return nil
}

// values parses the comma-separated value list of qualifier name, which
// starts at p.pos, just after the colon.
func (p *parser) values(name string) ([]string, error) {
	var values []string
	for {
		if len(values) >= MaxValues {
			return nil, fail("max_length", "%s: has more than %d values", name, MaxValues)
		}
		var v string
		switch {
		case p.atEnd() || p.s[p.pos] == ',':
			return nil, fail("required", "%s: missing value at byte %d", name, p.pos)
		case p.s[p.pos] == '"':
			at := p.pos
			var err error
			if v, err = p.quoted(); err != nil {
				return nil, err
			}
			if v == "" {
				return nil, fail("required", "%s: empty quoted value at byte %d", name, at)
			}
		default:
			start := p.pos
			for !p.atEnd() && p.s[p.pos] != ',' && p.s[p.pos] != '"' {
				p.pos++
			}
			v = p.s[start:p.pos]
		}
		values = append(values, v)
		switch {
		case p.atEnd():
			return values, nil
		case p.s[p.pos] == ',':
			p.pos++
		default:
			return nil, fail("syntax", "%s: unexpected %q at byte %d; separate values with commas and terms with spaces", name, p.s[p.pos], p.pos)
		}
	}
}

// quoted parses a double-quoted string starting at p.pos and returns its
// unescaped contents.
func (p *parser) quoted() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			return b.String(), nil
		case c == '\\' && p.pos+1 < len(p.s) && (p.s[p.pos+1] == '"' || p.s[p.pos+1] == '\\'):
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", fail("syntax", "unterminated quote starting at byte %d", start)
}

// check validates (and normalises) one value of a clear or blind field.
func check(f stele.Field, v string) (string, error) {
	switch f {
	case stele.FieldAction:
		if stele.ActionPattern.MatchString(v) || prefixPattern.MatchString(v) {
			return v, nil
		}
		return "", fail("pattern", "action %q is not an action (like user.login) or a prefix (like user.*)", v)
	case stele.FieldCategory:
		if stele.IsCategory(v) {
			return v, nil
		}
		return "", fail("enum", "category %q is not a category (%s)", v, strings.Join(stele.Categories, ", "))
	case stele.FieldOutcome:
		for _, o := range stele.Outcomes {
			if o == v {
				return v, nil
			}
		}
		return "", fail("enum", "outcome %q is not an outcome (%s)", v, strings.Join(stele.Outcomes, ", "))
	case stele.FieldIP:
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return "", fail("format", "ip %q is not an IPv4 or IPv6 address", v)
		}
		// As ingest stores it: IPv4-mapped IPv6 addresses as IPv4.
		return a.Unmap().String(), nil
	default: // actor, target, source
		if n := utf8.RuneCountInString(v); n > MaxValueLength {
			return "", fail("max_length", "%s value is %d characters long; the limit is %d", f, n, MaxValueLength)
		}
		return v, nil
	}
}

// timeBound applies after: or before:.
func (p *parser) timeBound(name string, values []string, negate bool) error {
	if negate {
		return fail("syntax", "%s: cannot be negated; use %s: instead", name, map[string]string{qualAfter: qualBefore, qualBefore: qualAfter}[name])
	}
	if len(values) != 1 {
		return fail("syntax", "%s: takes one time, not a list", name)
	}
	t, err := parseTime(name, values[0], p.now)
	if err != nil {
		return err
	}
	ago := ""
	if relativePattern.MatchString(values[0]) {
		ago = values[0]
	}
	if name == qualAfter {
		if p.q.After.IsZero() || t.After(p.q.After) {
			p.q.After, p.q.AfterAgo = t, ago
		}
	} else if p.q.Before.IsZero() || t.Before(p.q.Before) {
		p.q.Before, p.q.BeforeAgo = t, ago
	}
	return nil
}

// Layouts after: and before: accept, besides relative durations. Times
// without an offset are UTC.
var layouts = []string{time.RFC3339Nano, "2006-01-02", "2006-01-02T15:04", "2006-01-02T15:04:05"}

var units = map[string]time.Duration{"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}

// parseTime parses the value of after: or before: into a UTC time truncated
// to microseconds.
func parseTime(name, v string, now time.Time) (time.Time, error) {
	var t time.Time
	if m := relativePattern.FindStringSubmatch(v); m != nil {
		unit := units[m[2]]
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > int64(maxDuration/unit) {
			return time.Time{}, fail("range", "%s: duration %q is too long", name, v)
		}
		t = now.Add(-time.Duration(n) * unit)
	} else {
		ok := false
		for _, l := range layouts {
			var err error
			if t, err = time.Parse(l, v); err == nil {
				ok = true
				break
			}
		}
		if !ok {
			return time.Time{}, fail("format", "%s: %q is not a time (like 2026-11-01, 2026-11-01T10:00, 2026-11-01T10:00:00Z, or 24h, 7d, 30m, 2w ago)", name, v)
		}
	}
	t = t.UTC().Truncate(time.Microsecond)
	if !t.After(minTime) || t.After(maxTime) {
		return time.Time{}, fail("range", "%s: %s is out of range (after 1970, before 10000)", name, t.Format(time.RFC3339Nano))
	}
	return t, nil
}

const maxDuration = time.Duration(1<<63 - 1)
