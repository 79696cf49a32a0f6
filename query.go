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
type Term struct {
	Field  Field
	Values []string
	Negate bool
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

// String renders q in the query language, so that parsing it again gives q.
func (q Query) String() string {
	var parts []string
	for _, t := range q.Terms {
		var b strings.Builder
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
		parts = append(parts, b.String())
	}
	if !q.After.IsZero() {
		parts = append(parts, "after:"+q.After.UTC().Format(time.RFC3339Nano))
	}
	if !q.Before.IsZero() {
		parts = append(parts, "before:"+q.Before.UTC().Format(time.RFC3339Nano))
	}
	return strings.Join(parts, " ")
}

func quoteValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\r\n\",:") && !strings.HasPrefix(v, "-") {
		return v
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}
