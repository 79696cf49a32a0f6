package query

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
	{"action:user.login action:user.logout", "a repeated qualifier means any of its values (as action:user.login,user.logout)"},
	{"action:user.login_failed OR action:user.mfa_failed OR outcome:failure", "OR, across fields"},
	{"(actor:ada@acme.io OR actor:source-scanner) -category:system", "parentheses group; - negates"},
	{"-(category:system OR category:source_activity) outcome:failure", "a negated group"},
	{`"secret committed" OR critical`, "words and phrases in descriptions, names and metadata"},
}
