package stele

import (
	"strings"
	"time"
)

// Term is one qualifier of a query: the field, the values it may match (any
// of them: `action:user.login,user.logout`), and whether it is negated. An
// action value ending in `*` matches as a prefix. Text terms hold one word or
// quoted phrase each and match the description, names, emails, and metadata
// values, case-insensitively.
//
// A term of FieldGroup is a parenthesised part of the query: it matches when
// any of the conjunctions in Any matches (each a list of terms that AND
// together), and has no Values.
type Term struct {
	Field  Field
	Values []string
	Negate bool
	Any    [][]Term
}

// Query is a parsed query: terms AND together, and an optional time range
// [After, Before) on the event time.
//
// AfterAgo and BeforeAgo keep a bound written relative to now as it was
// written ("24h" for after:24h); they are empty for an absolute bound.
// After and Before hold what such a bound came to when the query was
// parsed, which moves with the clock: the pages of one query are read at
// different times, and what stays the same across them is the bound as
// written.
type Query struct {
	Terms     []Term
	After     time.Time
	Before    time.Time
	AfterAgo  string
	BeforeAgo string
}

// String renders q in the query language, so that parsing it again gives a
// query of the same meaning (the same query, when q was parsed). It is the
// canonical form of a parsed query: what a reader is shown as "read as".
// Groups are parenthesised, and so is each alternative of more than one
// term (`(a b) OR c`); a positive qualifier repeating one already in the
// same conjunction is parenthesised (`action:a (action:b)`), since
// written side by side the two would mean either.
func (q Query) String() string {
	var parts []string
	if len(q.Terms) == 1 && q.Terms[0].Field == FieldGroup && !q.Terms[0].Negate && len(q.Terms[0].Any) > 1 {
		// A query that is one OR needs no parentheses around it.
		parts = append(parts, alternatives(q.Terms[0].Any))
	} else if len(q.Terms) > 0 {
		parts = append(parts, conjunction(q.Terms))
	}
	if !q.After.IsZero() {
		parts = append(parts, "after:"+q.After.UTC().Format(time.RFC3339Nano))
	}
	if !q.Before.IsZero() {
		parts = append(parts, "before:"+q.Before.UTC().Format(time.RFC3339Nano))
	}
	return strings.Join(parts, " ")
}

// Mergeable reports whether t is a positive qualifier that a repeat of its
// field in the same conjunction joins as another value (`action:a
// action:b` is `action:a,b`).
func (t Term) Mergeable() bool {
	return !t.Negate && t.Field != FieldText && t.Field != FieldGroup
}

// HasText reports whether t is a text term or a group that holds one: a
// condition only the decrypted event can answer.
func (t Term) HasText() bool {
	if t.Field == FieldText {
		return true
	}
	for _, c := range t.Any {
		for _, u := range c {
			if u.HasText() {
				return true
			}
		}
	}
	return false
}

// HasText reports whether some term of q is or holds a text term, which
// counts made from the store's filters leave out.
func (q Query) HasText() bool {
	for _, t := range q.Terms {
		if t.HasText() {
			return true
		}
	}
	return false
}

func conjunction(terms []Term) string {
	var b strings.Builder
	seen := map[Field]bool{}
	for i, t := range terms {
		if i > 0 {
			b.WriteByte(' ')
		}
		if t.Field == FieldGroup {
			if t.Negate {
				b.WriteByte('-')
			}
			b.WriteByte('(')
			b.WriteString(alternatives(t.Any))
			b.WriteByte(')')
			continue
		}
		repeat := t.Mergeable() && seen[t.Field]
		if t.Mergeable() {
			seen[t.Field] = true
		}
		if repeat {
			b.WriteByte('(')
		}
		writeTerm(&b, t)
		if repeat {
			b.WriteByte(')')
		}
	}
	return b.String()
}

func alternatives(any [][]Term) string {
	parts := make([]string, len(any))
	for i, c := range any {
		s := conjunction(c)
		if len(c) > 1 && len(any) > 1 {
			s = "(" + s + ")"
		}
		parts[i] = s
	}
	return strings.Join(parts, " OR ")
}

func writeTerm(b *strings.Builder, t Term) {
	if t.Negate {
		b.WriteByte('-')
	}
	if t.Field != FieldText {
		b.WriteString(string(t.Field))
		b.WriteByte(':')
	}
	for i, v := range t.Values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quoteValue(v))
	}
}

func quoteValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\r\n\",:()") && !strings.HasPrefix(v, "-") && v != "OR" && v != "AND" {
		return v
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}
