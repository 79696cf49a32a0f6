package query

import (
	"fmt"
	"strings"

	"github.com/stele-audit/stele"
)

// Example is a query the documentation shows, and what it finds.
type Example struct {
	Query string
	Finds string
}

// Examples are the queries the README, docs/CONSOLE.md, the API's
// description of q and `stele query --help` show. Each finds events in the
// demo data (`stele serve --demo`), whatever its seed: internal/demo's
// tests run them on a filled store, and the docs' tests check that every
// one is shown.
var Examples = []Example{
	{"action:user.login_failed", "failed sign-ins"},
	{"action:finding.* source:gh-acme", "a prefix of actions, from one connected source"},
	{"category:authentication outcome:failure", "qualifiers AND together"},
	{"actor:ada@acme.io after:7d", "an actor by email or id, in the last 7 days"},
	{"action:user.login action:user.logout", "a repeated qualifier means any of its values: sign-ins and sign-outs"},
	{"action:user.login_failed OR action:user.mfa_failed OR outcome:failure", "OR, within a field and across fields"},
	{"(actor:ada@acme.io OR actor:source-scanner) -category:system", "parentheses group; - negates"},
	{"outcome:failure -(category:system OR category:source_activity)", "a negated group"},
	{`"secret committed" OR critical`, "words and phrases in descriptions, names and metadata"},
}

// Help is the language in brief, with the examples, for `stele query
// --help`.
func Help() string {
	var b strings.Builder
	b.WriteString(`The query language (the API's q, the console's query box):
  action:user.login           an action; action:user.* a prefix; action:a.b,c.d any of a list
  category:authentication     one of: ` + strings.Join(stele.Categories, ", ") + `
  outcome:failure             one of: ` + strings.Join(stele.Outcomes, ", ") + `
  actor:ada@acme.io           actor id or email; also target:ID, source:ID
  ip:203.0.113.7              an IPv4 or IPv6 address
  after:7d  before:2026-11-24T12:00:00Z
                              RFC 3339, a date, or a duration before now (30m, 24h, 7d, 2w);
                              they bound the whole query and stand outside parentheses
  word  "a phrase"            text in descriptions, names and metadata values
  -term  -( ... )             negation
  action:a.b action:c.d       a repeated qualifier means any of its values;
                              -action:a.b -action:c.d means neither
  t1 OR t2  ( ... )           either side, grouped; AND binds tighter (a b OR c is (a b) OR c);
                              AND may be written; or and and in lower case are searched as words
A query that starts with - follows --, as in: stele query -- '-outcome:success'.
Examples (each finds events in the demo data of stele serve --demo):
`)
	for _, ex := range Examples {
		fmt.Fprintf(&b, "  stele query '%s'\n      %s\n", ex.Query, ex.Finds)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
