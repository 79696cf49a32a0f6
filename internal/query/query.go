// Package query parses the query language of the API, the CLI and the
// console's filter box into a [stele.Query].
//
// A query is a list of terms separated by whitespace (space, tab, CR, LF);
// the terms AND together. A term is either a qualifier, field:value, or a
// text word or "quoted phrase" that matches the description, names and
// metadata values. A leading - negates a term.
//
//	action:user.login,user.logout   any of the listed actions
//	action:user.login action:user.logout   the same: a repeated qualifier means any
//	action:user.*                   actions starting with "user."
//	category:authentication         one of stele.Categories
//	outcome:failure                 one of stele.Outcomes
//	actor:"Ada Lovelace"            actor id or email; also target:, source:
//	ip:203.0.113.7                  an IPv4 or IPv6 address
//	after:2026-11-01                RFC 3339, a date, a date and minute (UTC),
//	before:24h                      or a duration before now: 30m, 24h, 7d, 2w
//	-outcome:success -"dry run"     negation (-action:a -action:b: neither)
//	action:user.login OR actor:u_1  either
//	(actor:a OR actor:b) -(outcome:failure ip:10.0.0.1)   grouping
//
// OR and AND are operators only when written in capitals as words of
// their own; AND is what whitespace already means. AND binds tighter than
// OR: a b OR c is (a b) OR c. In lower case, or and and are words
// searched for, as any other. Parentheses group; -( ) negates a group.
// Positive qualifiers of one field side by side in one conjunction join
// into one (their values are alternatives); across parentheses they do
// not: action:a (action:b) asks for both. after: and before: bound the
// whole query wherever they stand outside parentheses, and may not stand
// inside. A word or value holding a parenthesis, or the word OR or AND
// itself, is quoted.
//
// Values may be comma-separated lists and may be double-quoted, with \" and
// \\ as escapes (another backslash is kept as written). A word containing
// ':' is read as a qualifier; quote it to search for it as text.
//
// [stele.Query.String] renders a parsed query back into this language, and
// parsing that rendering gives the same query: it is the canonical form,
// which shows how a query was read.
package query

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stele-audit/stele"
)

// Limits on a query.
const (
	MaxBytes       = 2048 // bytes of query text
	MaxTerms       = 32   // terms written in the query (after: and before: not counted)
	MaxValues      = 64   // values in one term, repeated qualifiers joined
	MaxValueLength = 256  // characters in an actor, target or source value
	MaxDepth       = 4    // parentheses inside parentheses
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
// after:24h, which also keep their text in AfterAgo or BeforeAgo. The empty
// (or all-blank) query is the zero Query. Errors are *stele.Error with code
// EINVALID and one detail on field "q" whose rule is one of syntax,
// unknown_field, format, enum, pattern, range, max_length, max_depth or
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
	// The canonical form writes out how AND binds before OR ("a OR b c"
	// is "a OR (b c)"), which can nest deeper than the input did; a query
	// is taken only if that form parses again.
	if d := parenDepth(p.q.String()); d > MaxDepth {
		return stele.Query{}, fail("max_depth", "parentheses nest deeper than %d once the query is read: AND binds before OR, so \"a OR b c\" is \"a OR (b c)\"", MaxDepth)
	}
	return p.q, nil
}

// parenDepth returns how deep the parentheses of a canonical query nest,
// those inside quoted values aside.
func parenDepth(s string) int {
	depth, deepest, quoted := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++ // the escaped byte
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
			deepest = max(deepest, depth)
		case c == ')':
			depth--
		}
	}
	return deepest
}

type parser struct {
	s     string
	pos   int
	now   time.Time
	q     stele.Query
	depth int // parentheses open at pos
	terms int // terms read, for MaxTerms
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

// atEnd reports whether the current term ends here: at a blank, or at a
// parenthesis that closes a group.
func (p *parser) atEnd() bool {
	return p.eof() || isSpace(p.s[p.pos]) || (p.depth > 0 && p.s[p.pos] == ')')
}

func (p *parser) skipSpace() {
	for !p.eof() && isSpace(p.s[p.pos]) {
		p.pos++
	}
}

// operator returns "OR" or "AND" when one stands at p.pos as a word of
// its own.
func (p *parser) operator() string {
	for _, op := range []string{"OR", "AND"} {
		if !strings.HasPrefix(p.s[p.pos:], op) {
			continue
		}
		end := p.pos + len(op)
		if end == len(p.s) || isSpace(p.s[end]) || p.s[end] == '(' || p.s[end] == ')' {
			return op
		}
	}
	return ""
}

func (p *parser) parse() error {
	alts, err := p.or()
	if err != nil {
		return err
	}
	if !p.eof() { // a ')' with nothing open
		return fail("syntax", "unbalanced parenthesis at byte %d: nothing to close; quote a word that holds one", p.pos)
	}
	if len(alts) > 0 {
		g := group(alts, false)
		if err := checkValues(g); err != nil {
			return err
		}
		if len(g.Any) == 1 {
			p.q.Terms = g.Any[0]
		} else {
			p.q.Terms = []stele.Term{g}
		}
	}
	if !p.q.After.IsZero() && !p.q.Before.IsZero() && !p.q.After.Before(p.q.Before) {
		return fail("range", "after %s is not before before %s",
			p.q.After.Format(time.RFC3339Nano), p.q.Before.Format(time.RFC3339Nano))
	}
	return nil
}

// or parses alternatives separated by OR, each a list of terms that AND
// together, up to the end or to a ')' (left for the caller), and returns
// them joined as group does.
func (p *parser) or() ([][]stele.Term, error) {
	var (
		alts  [][]stele.Term
		cur   []stele.Term
		op    string // the operator just read, whose right side is missing
		opAt  int
		bound bool // cur had after: or before:, which are not terms
	)
	for {
		p.skipSpace()
		if p.eof() || p.s[p.pos] == ')' {
			break
		}
		if o := p.operator(); o != "" {
			if op != "" || len(cur) == 0 {
				return nil, p.missingSide(o, p.pos, bound && op == "")
			}
			op, opAt = o, p.pos
			p.pos += len(o)
			if o == "OR" {
				alts, cur, bound = append(alts, conjunction(cur)), nil, false
			}
			continue
		}
		op = ""
		t, ok, err := p.unit()
		if err != nil {
			return nil, err
		}
		if !ok {
			bound = true
			continue
		}
		cur = append(cur, t)
	}
	if op != "" {
		return nil, p.missingSide(op, opAt, false)
	}
	if len(cur) == 0 {
		if len(alts) > 0 {
			return nil, p.missingSide("OR", opAt, bound)
		}
		return nil, nil
	}
	return append(alts, conjunction(cur)), nil
}

func (p *parser) missingSide(op string, at int, bound bool) error {
	if bound {
		return fail("syntax", "%s at byte %d needs a term on each side: after: and before: bound the whole query and are not terms", op, at)
	}
	return fail("syntax", "%s at byte %d needs a term on each side; quote it (\"%s\") to search for the word", op, at, op)
}

// unit parses a term or a parenthesised group, negated or not. ok is
// false for after: and before:, which set the query's bounds instead.
func (p *parser) unit() (t stele.Term, ok bool, err error) {
	start := p.pos
	negate := false
	if p.s[p.pos] == '-' && p.pos+1 < len(p.s) && p.s[p.pos+1] == '(' {
		negate = true
		p.pos++
	}
	if p.s[p.pos] != '(' {
		return p.term()
	}
	open := p.pos
	if p.depth == MaxDepth {
		return t, false, fail("max_depth", "parentheses at byte %d nest deeper than %d", open, MaxDepth)
	}
	p.pos++
	p.depth++
	alts, err := p.or()
	p.depth--
	if err != nil {
		return t, false, err
	}
	if p.eof() {
		return t, false, fail("syntax", "unbalanced parenthesis at byte %d: it is never closed", open)
	}
	p.pos++ // ')'
	if len(alts) == 0 {
		return t, false, fail("required", "empty parentheses at byte %d", start)
	}
	return group(alts, negate), true, nil
}

// term parses one term starting at p.pos, which is not blank. ok is false
// for after: and before:.
func (p *parser) term() (stele.Term, bool, error) {
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
			return stele.Term{}, false, err
		}
		if !p.atEnd() {
			return stele.Term{}, false, fail("syntax", "unexpected %q after the quoted phrase at byte %d; separate terms with spaces", p.s[p.pos], p.pos)
		}
		if v == "" {
			return stele.Term{}, false, fail("required", "empty quoted phrase at byte %d", start)
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
		return stele.Term{}, false, fail("syntax", "unexpected quote at byte %d inside %q; quote whole words or values", p.pos, word)
	}
	// p.s[p.pos] == ':'
	p.pos++
	if word == "" {
		return stele.Term{}, false, fail("syntax", "missing qualifier before ':' at byte %d; quote the word to search for it as text", p.pos-1)
	}
	name := strings.ToLower(word)
	if !known(name) {
		return stele.Term{}, false, fail("unknown_field", "unknown qualifier %q (known: %s); quote the word to search for it as text",
			word+":", strings.Join(Qualifiers, ", "))
	}
	values, err := p.values(name)
	if err != nil {
		return stele.Term{}, false, err
	}
	if name == qualAfter || name == qualBefore {
		if p.depth > 0 {
			return stele.Term{}, false, fail("syntax", "%s: at byte %d is inside parentheses; after: and before: bound the whole query, write them outside", name, start)
		}
		return stele.Term{}, false, p.timeBound(name, values, negate)
	}
	field := stele.Field(name)
	for i, v := range values {
		nv, err := check(field, v)
		if err != nil {
			return stele.Term{}, false, err
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

func (p *parser) add(t stele.Term) (stele.Term, bool, error) {
	if p.terms >= MaxTerms {
		return stele.Term{}, false, fail("max_length", "more than %d terms", MaxTerms)
	}
	p.terms++
	return t, true, nil
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
