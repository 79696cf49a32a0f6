package query

import (
	"errors"
	"testing"

	"github.com/stele-audit/stele"
)

// fuzzSeeds also live in testdata/fuzz/FuzzParse.
var fuzzSeeds = []string{
	"",
	"invoice",
	`"two words" -word`,
	"action:user.login,user.logout",
	"action:user.* -action:user.login_failed",
	"category:authentication outcome:failure",
	`actor:"Ada Lovelace",ada@acme.io target:u_456 source:aws-prod-123`,
	`ip:203.0.113.7 ip:"::ffff:10.0.0.1"`,
	"after:2026-11-01 before:2026-11-24T12:00:00Z",
	"after:2026-11-01T10:00 before:2w after:24h after:7d before:30m",
	`"say \"hi\" \\ C:\path" --x - a,b`,
	"foo:bar",
	`actor:"unterminated`,
	"-after:1h",
	"action:user.login action:user.logout -action:a.b -action:c.d",
	"action:user.login OR actor:ada@acme.io",
	"(actor:ada@acme.io OR actor:bob@acme.io) category:authentication",
	"a b OR c AND -(d OR -(e f)) or g",
	`((("x)" OR y)) "OR" AND`,
	"(a OR b)) ) (c",
	"a OR -(b OR -(c OR -(d OR -(e OR f))))",
	"after:24h OR x (before:1h)",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		q, err := Parse(in, now)
		if err != nil {
			var e *stele.Error
			if !errors.As(err, &e) || e.Code != stele.EINVALID || len(e.Details) == 0 {
				t.Fatalf("Parse(%q) error %#v, want *stele.Error with code invalid and details", in, err)
			}
			return
		}
		if err := normal(q.Terms, 0); err != "" {
			t.Fatalf("Parse(%q) = %#v: %s", in, q, err)
		}
		s := q.String()
		again, err := Parse(s, now)
		if len(s) > MaxBytes {
			// The canonical form may be longer than the input (quotes added,
			// relative times written out); then only the limit can fail.
			var e *stele.Error
			if !errors.As(err, &e) || e.Details[0].Rule != "max_length" {
				t.Fatalf("Parse(%q) of %d bytes: %v, want a max_length error", s, len(s), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("round trip of %q: Parse(%q): %v", in, s, err)
		}
		if !equalQueries(q, again) {
			t.Fatalf("round trip of %q through %q\n got %#v\nwant %#v", in, s, again, q)
		}
	})
}

// normal returns what is wrong with the shape of parsed terms, "" if
// nothing: groups are as deep as parentheses may nest (one more for an OR
// outside any parentheses), a group not negated
// has two alternatives or more (one would have been spliced in), no group
// or alternative is empty, and no term holds more than MaxValues values.
func normal(terms []stele.Term, depth int) string {
	if depth > MaxDepth+1 {
		return "groups nest deeper than MaxDepth"
	}
	for _, t := range terms {
		switch {
		case t.Field == stele.FieldGroup && len(t.Any) == 0:
			return "an empty group"
		case t.Field == stele.FieldGroup && !t.Negate && len(t.Any) < 2:
			return "a group of one alternative left unspliced"
		case t.Field != stele.FieldGroup && (len(t.Values) == 0 || len(t.Values) > MaxValues):
			return "a term without values or with too many"
		}
		for _, c := range t.Any {
			if len(c) == 0 {
				return "an empty alternative"
			}
			if err := normal(c, depth+1); err != "" {
				return err
			}
		}
	}
	return ""
}
