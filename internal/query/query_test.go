package query

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// now is the fixed clock of the tests; it has sub-microsecond digits and a
// non-UTC zone so that normalisation shows.
var now = time.Date(2026, 11, 24, 12, 30, 15, 123456789, time.FixedZone("CET", 3600))

func nowUTC() time.Time { return now.UTC().Truncate(time.Microsecond) }

func text(v string) stele.Term { return stele.Term{Field: stele.FieldText, Values: []string{v}} }
func notText(v string) stele.Term {
	return stele.Term{Field: stele.FieldText, Values: []string{v}, Negate: true}
}
func term(f stele.Field, vs ...string) stele.Term { return stele.Term{Field: f, Values: vs} }
func notTerm(f stele.Field, vs ...string) stele.Term {
	return stele.Term{Field: f, Values: vs, Negate: true}
}
func grp(alts ...[]stele.Term) stele.Term { return stele.Term{Field: stele.FieldGroup, Any: alts} }
func notGrp(alts ...[]stele.Term) stele.Term {
	return stele.Term{Field: stele.FieldGroup, Any: alts, Negate: true}
}
func all(ts ...stele.Term) []stele.Term  { return ts }
func terms(ts ...stele.Term) stele.Query { return stele.Query{Terms: ts} }

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want stele.Query
	}{
		{"empty query is the zero query", "", stele.Query{}},
		{"blank query is the zero query", " \t\r\n ", stele.Query{}},
		{"bare word is a text term", "invoice", stele.Query{Terms: []stele.Term{text("invoice")}}},
		{"text keeps its case", "Invoice", stele.Query{Terms: []stele.Term{text("Invoice")}}},
		{"words AND as separate terms", "alpha  beta\tgamma\n", stele.Query{Terms: []stele.Term{text("alpha"), text("beta"), text("gamma")}}},
		{"quoted phrase is one text term", `"two words"`, stele.Query{Terms: []stele.Term{text("two words")}}},
		{"quoted colon word is text", `"foo:bar"`, stele.Query{Terms: []stele.Term{text("foo:bar")}}},
		{"bare comma word is one text value", "a,b", stele.Query{Terms: []stele.Term{text("a,b")}}},
		{"quoted escapes", `"say \"hi\" \\ ok"`, stele.Query{Terms: []stele.Term{text(`say "hi" \ ok`)}}},
		{"other backslashes are kept", `"C:\path" a\b`, stele.Query{Terms: []stele.Term{text(`C:\path`), text(`a\b`)}}},
		{"negated word", "-word", stele.Query{Terms: []stele.Term{notText("word")}}},
		{"negated phrase", `-"dry run"`, stele.Query{Terms: []stele.Term{notText("dry run")}}},
		{"double dash negates a dash word", "--x", stele.Query{Terms: []stele.Term{notText("-x")}}},
		{"lone dash is text", "a - b", stele.Query{Terms: []stele.Term{text("a"), text("-"), text("b")}}},
		{"action", "action:user.login", stele.Query{Terms: []stele.Term{term(stele.FieldAction, "user.login")}}},
		{"action list", "action:user.login,user.logout", stele.Query{Terms: []stele.Term{term(stele.FieldAction, "user.login", "user.logout")}}},
		{"action dot prefix", "action:user.*", stele.Query{Terms: []stele.Term{term(stele.FieldAction, "user.*")}}},
		{"action bare prefix", "action:user*", stele.Query{Terms: []stele.Term{term(stele.FieldAction, "user*")}}},
		{"negated action", "-action:user.login", stele.Query{Terms: []stele.Term{notTerm(stele.FieldAction, "user.login")}}},
		{"qualifier name is case-insensitive", "Action:user.login", stele.Query{Terms: []stele.Term{term(stele.FieldAction, "user.login")}}},
		{"category", "category:authentication", stele.Query{Terms: []stele.Term{term(stele.FieldCategory, "authentication")}}},
		{"category list", "category:system,audit", stele.Query{Terms: []stele.Term{term(stele.FieldCategory, "system", "audit")}}},
		{"outcome", "outcome:failure", stele.Query{Terms: []stele.Term{term(stele.FieldOutcome, "failure")}}},
		{"negated outcome", "-outcome:success", stele.Query{Terms: []stele.Term{notTerm(stele.FieldOutcome, "success")}}},
		{"actor email", "actor:ada@acme.io", stele.Query{Terms: []stele.Term{term(stele.FieldActor, "ada@acme.io")}}},
		{"quoted actor", `actor:"Ada Lovelace"`, stele.Query{Terms: []stele.Term{term(stele.FieldActor, "Ada Lovelace")}}},
		{"mixed quoted list", `actor:"Ada Lovelace",u_1,"x,y"`, stele.Query{Terms: []stele.Term{term(stele.FieldActor, "Ada Lovelace", "u_1", "x,y")}}},
		{"target", "target:u_456", stele.Query{Terms: []stele.Term{term(stele.FieldTarget, "u_456")}}},
		{"source", "source:aws-prod-123", stele.Query{Terms: []stele.Term{term(stele.FieldSource, "aws-prod-123")}}},
		{"bare value may hold colons", "source:arn:aws:x", stele.Query{Terms: []stele.Term{term(stele.FieldSource, "arn:aws:x")}}},
		{"value of 256 characters", "actor:" + strings.Repeat("é", 256), stele.Query{Terms: []stele.Term{term(stele.FieldActor, strings.Repeat("é", 256))}}},
		{"ipv4", "ip:203.0.113.7", stele.Query{Terms: []stele.Term{term(stele.FieldIP, "203.0.113.7")}}},
		{"ipv6 is normalised", "ip:2001:DB8:0:0::1", stele.Query{Terms: []stele.Term{term(stele.FieldIP, "2001:db8::1")}}},
		{"ipv4-mapped is unmapped", `ip:"::ffff:203.0.113.7"`, stele.Query{Terms: []stele.Term{term(stele.FieldIP, "203.0.113.7")}}},
		{"after date", "after:2026-11-01", stele.Query{After: utc("2026-11-01T00:00:00Z")}},
		{"after date and minute", "after:2026-11-01T10:00", stele.Query{After: utc("2026-11-01T10:00:00Z")}},
		{"before rfc3339", "before:2026-11-24T12:00:00Z", stele.Query{Before: utc("2026-11-24T12:00:00Z")}},
		{"rfc3339 offset becomes utc", "after:2026-11-24T12:00:00+02:00", stele.Query{After: utc("2026-11-24T10:00:00Z")}},
		{"fraction truncated to microseconds", "after:2026-11-24T12:00:00.123456789Z", stele.Query{After: utc("2026-11-24T12:00:00.123456Z")}},
		{"relative minutes", "after:30m", stele.Query{After: nowUTC().Add(-30 * time.Minute), AfterAgo: "30m"}},
		{"relative hours", "after:24h", stele.Query{After: nowUTC().Add(-24 * time.Hour), AfterAgo: "24h"}},
		{"relative days", "after:7d", stele.Query{After: nowUTC().Add(-7 * 24 * time.Hour), AfterAgo: "7d"}},
		{"relative weeks", "before:2w", stele.Query{Before: nowUTC().Add(-14 * 24 * time.Hour), BeforeAgo: "2w"}},
		{"relative and absolute: the later after, the earlier before", "after:2026-01-01 after:7d before:2026-11-20 before:1d",
			stele.Query{After: nowUTC().Add(-7 * 24 * time.Hour), AfterAgo: "7d", Before: utc("2026-11-20T00:00:00Z")}},
		{"absolute after a relative wins", "after:7d after:2026-11-24T11:00:00Z",
			stele.Query{After: utc("2026-11-24T11:00:00Z")}},
		{"second after keeps the later", "after:2026-11-01 after:2026-11-05 after:2026-11-03", stele.Query{After: utc("2026-11-05T00:00:00Z")}},
		{"second before keeps the earlier", "before:2026-11-05 before:2026-11-01 before:2026-11-03", stele.Query{Before: utc("2026-11-01T00:00:00Z")}},
		{"range", "after:2026-11-01 before:2026-11-02", stele.Query{After: utc("2026-11-01T00:00:00Z"), Before: utc("2026-11-02T00:00:00Z")}},
		{"everything together", `action:user.* -outcome:success actor:"Ada Lovelace" ip:203.0.113.7 after:7d "wire transfer" -test`,
			stele.Query{
				Terms: []stele.Term{
					term(stele.FieldAction, "user.*"), notTerm(stele.FieldOutcome, "success"),
					term(stele.FieldActor, "Ada Lovelace"), term(stele.FieldIP, "203.0.113.7"),
					text("wire transfer"), notText("test"),
				},
				After: nowUTC().Add(-7 * 24 * time.Hour), AfterAgo: "7d",
			}},
		// Repeats, OR and parentheses.
		{"repeated qualifier means any", "action:user.login action:user.logout", terms(term(stele.FieldAction, "user.login", "user.logout"))},
		{"repeats join into the first", "actor:ada@acme.io category:authentication actor:bob@acme.io -actor:eve actor:u_1",
			terms(term(stele.FieldActor, "ada@acme.io", "bob@acme.io", "u_1"), term(stele.FieldCategory, "authentication"), notTerm(stele.FieldActor, "eve"))},
		{"negated repeats stay apart: neither", "-action:user.login -action:user.logout",
			terms(notTerm(stele.FieldAction, "user.login"), notTerm(stele.FieldAction, "user.logout"))},
		{"text words still AND", "alpha alpha", terms(text("alpha"), text("alpha"))},
		{"OR of one field joins", "action:user.login OR action:user.logout", terms(term(stele.FieldAction, "user.login", "user.logout"))},
		{"joined repeats drop values already there", "action:user.login action:user.login,user.logout OR action:user.logout",
			terms(term(stele.FieldAction, "user.login", "user.logout"))},
		{"a list keeps its own repeats", "action:user.login,user.login", terms(term(stele.FieldAction, "user.login", "user.login"))},
		{"OR of fields", "action:user.login OR actor:ada@acme.io",
			terms(grp(all(term(stele.FieldAction, "user.login")), all(term(stele.FieldActor, "ada@acme.io"))))},
		{"AND binds tighter than OR", "a b OR c", terms(grp(all(text("a"), text("b")), all(text("c"))))},
		{"explicit AND", "action:user.login AND outcome:failure", terms(term(stele.FieldAction, "user.login"), term(stele.FieldOutcome, "failure"))},
		{"parenthesised OR of one field", "(actor:ada@acme.io OR actor:bob@acme.io) category:authentication",
			terms(term(stele.FieldActor, "ada@acme.io", "bob@acme.io"), term(stele.FieldCategory, "authentication"))},
		{"group with other terms", "category:authentication (action:user.login OR outcome:failure)",
			terms(term(stele.FieldCategory, "authentication"), grp(all(term(stele.FieldAction, "user.login")), all(term(stele.FieldOutcome, "failure"))))},
		{"parentheses keep repeats apart", "action:user.login (action:user.logout)",
			terms(term(stele.FieldAction, "user.login"), term(stele.FieldAction, "user.logout"))},
		{"negated group", "-(outcome:failure OR ip:10.0.0.1)",
			terms(notGrp(all(term(stele.FieldOutcome, "failure")), all(term(stele.FieldIP, "10.0.0.1"))))},
		{"negated group of one term", "-(action:user.login)", terms(notTerm(stele.FieldAction, "user.login"))},
		{"negated group of one field", "-(action:user.login OR action:user.logout)", terms(notTerm(stele.FieldAction, "user.login", "user.logout"))},
		{"negated conjunction", "-(action:user.login outcome:failure)", terms(notGrp(all(term(stele.FieldAction, "user.login"), term(stele.FieldOutcome, "failure"))))},
		{"double negation", "-(-action:user.login)", terms(term(stele.FieldAction, "user.login"))},
		{"double negated conjunction is spliced", "-(-(a b)) c", terms(text("a"), text("b"), text("c"))},
		{"nested ORs flatten", "a OR (b OR (c OR d))", terms(grp(all(text("a")), all(text("b")), all(text("c")), all(text("d"))))},
		{"redundant parentheses", "((action:user.login))", terms(term(stele.FieldAction, "user.login"))},
		{"parenthesis ends a value in a group", "(actor:bob OR target:u_1)x",
			terms(grp(all(term(stele.FieldActor, "bob")), all(term(stele.FieldTarget, "u_1"))), text("x"))},
		{"OR before a parenthesis", "a OR(b c)", terms(grp(all(text("a")), all(text("b"), text("c"))))},
		{"time bounds are the whole query's", "action:user.login OR action:user.logout after:2026-11-01",
			stele.Query{Terms: all(term(stele.FieldAction, "user.login", "user.logout")), After: utc("2026-11-01T00:00:00Z")}},
		{"lower-case or is a word", "action:user.login or action:user.logout",
			terms(term(stele.FieldAction, "user.login", "user.logout"), text("or"))},
		{"quoted OR is a word", `"OR" "AND"`, terms(text("OR"), text("AND"))},
		{"OR inside a word is a word", "ORACLE ANDROID xOR", terms(text("ORACLE"), text("ANDROID"), text("xOR"))},
		{"negated OR is a word", "-OR", terms(notText("OR"))},
		{"parentheses inside a word at the top", "f(x) b)", terms(text("f(x)"), text("b)"))},
		{"quoted value with parentheses", `(actor:"a (b)")`, terms(term(stele.FieldActor, "a (b)"))},
		{"four levels", "((((a))))", terms(text("a"))},
		{"four levels of groups under an OR", "a OR -(b OR -(c OR -(d OR -(e OR f))))",
			terms(grp(all(text("a")), all(notGrp(all(text("b")), all(notGrp(all(text("c")), all(notGrp(all(text("d")),
				all(notGrp(all(text("e")), all(text("f"))))))))))))},
		{"32 terms", strings.Repeat("w ", MaxTerms), stele.Query{Terms: repeatTerm(text("w"), MaxTerms)}},
		{"64 values", "category:" + strings.Repeat("audit,", MaxValues-1) + "audit", stele.Query{Terms: []stele.Term{term(stele.FieldCategory, repeat("audit", MaxValues)...)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in, now)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q)\n got %#v\nwant %#v", tt.in, got, tt.want)
			}
			checkRoundTrip(t, tt.in, got)
		})
	}
}

// repeatedActors returns n actor: qualifiers of k distinct values each.
func repeatedActors(n, k int) string {
	var parts []string
	for i := range n {
		var vs []string
		for j := range k {
			vs = append(vs, "u_"+strconv.Itoa(i*k+j))
		}
		parts = append(parts, "actor:"+strings.Join(vs, ","))
	}
	return strings.Join(parts, " ")
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func repeatTerm(t stele.Term, n int) []stele.Term {
	out := make([]stele.Term, n)
	for i := range out {
		out[i] = t
	}
	return out
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		rule string
		msg  string // a part of the message
	}{
		{"unterminated quote", `"two words`, "syntax", "unterminated quote"},
		{"unterminated quoted value", `actor:"Ada`, "syntax", "unterminated quote"},
		{"escaped closing quote leaves it open", `"a\"`, "syntax", "unterminated quote"},
		{"quote inside a word", `ab"c"`, "syntax", "unexpected quote"},
		{"text after a phrase", `"a"b`, "syntax", "after the quoted phrase"},
		{"list after a phrase", `"a","b"`, "syntax", "after the quoted phrase"},
		{"text after a quoted value", `actor:"a"b`, "syntax", "actor:"},
		{"quote after a bare value", `actor:a"b"`, "syntax", "actor:"},
		{"missing qualifier", ":x", "syntax", "missing qualifier"},
		{"negated missing qualifier", "-:x", "syntax", "missing qualifier"},
		{"negated after", "-after:24h", "syntax", "cannot be negated"},
		{"negated before", "-before:2026-11-01", "syntax", "cannot be negated"},
		{"after list", "after:1h,2h", "syntax", "one time"},
		{"unknown qualifier", "foo:bar", "unknown_field", `"foo:"`},
		{"unknown qualifier names the known", "foo:bar", "unknown_field", "action, category, actor, target, source, outcome, ip, after, before"},
		{"unquoted url", "https://example.com", "unknown_field", `"https:"`},
		{"text is not a qualifier", "text:hello", "unknown_field", `"text:"`},
		{"empty value", "action:", "required", "action: missing value"},
		{"empty list item", "action:user.login,", "required", "missing value"},
		{"leading comma", "action:,user.login", "required", "missing value"},
		{"empty quoted value", `actor:""`, "required", "empty quoted value"},
		{"empty phrase", `""`, "required", "empty quoted phrase"},
		{"empty negated phrase", `-""`, "required", "empty quoted phrase"},
		{"bad action", "action:User.Login", "pattern", `action "User.Login" is not an action`},
		{"action without a dot", "action:login", "pattern", "not an action"},
		{"action star alone", "action:*", "pattern", "not an action"},
		{"action star in the middle", "action:user.*.x", "pattern", "not an action"},
		{"action prefix with upper case", "action:User*", "pattern", "not an action"},
		{"bad category", "category:foo", "enum", `category "foo" is not a category (authentication, user_management, configuration, source_activity, system, audit)`},
		{"bad category in a list", "category:audit,foo", "enum", `category "foo"`},
		{"bad outcome", "outcome:ok", "enum", `outcome "ok" is not an outcome (unknown, success, failure)`},
		{"bad ip", "ip:999.1.1.1", "format", `ip "999.1.1.1"`},
		{"ip with zone", `ip:"fe80::1%eth0"`, "format", "not an IPv4 or IPv6 address"},
		{"bad time", "after:yesterday", "format", `after: "yesterday" is not a time`},
		{"bad date", "before:2026-13-01", "format", "before:"},
		{"unknown unit", "after:5y", "format", "not a time"},
		{"after not before before", "after:2026-11-02 before:2026-11-01", "range", "is not before"},
		{"after equal to before", "after:2026-11-01 before:2026-11-01", "range", "is not before"},
		{"duration too long", "after:99999999999999999999h", "range", "too long"},
		{"time before 1970", "after:1969-12-31", "range", "out of range"},
		{"time at the epoch", "before:1970-01-01", "range", "out of range"},
		{"relative time before 1970", "after:3000w", "range", "out of range"},
		{"query too long", strings.Repeat("a", MaxBytes+1), "max_length", "2049 bytes"},
		{"too many terms", strings.Repeat("w ", MaxTerms+1), "max_length", "more than 32 terms"},
		{"unbalanced open", "category:audit (action:user.login OR a", "syntax", "unbalanced parenthesis at byte 15"},
		{"unbalanced close", "(a OR b))", "syntax", "unbalanced parenthesis at byte 8"},
		{"lone close", ") a", "syntax", "unbalanced parenthesis at byte 0"},
		{"empty parentheses", "a ()", "required", "empty parentheses at byte 2"},
		{"empty negated parentheses", "-( )", "required", "empty parentheses at byte 0"},
		{"too deep", "(((((a)))))", "max_depth", "nest deeper than 4"},
		{"too deep once AND is written out", "-(0 (0 OR 0 (0 OR (0 0))))", "max_depth", "AND binds before OR"},
		{"leading OR", "OR a", "syntax", "OR at byte 0 needs a term on each side"},
		{"trailing OR", "a OR", "syntax", "OR at byte 2 needs a term on each side"},
		{"trailing AND", "a AND ", "syntax", "AND at byte 2"},
		{"OR OR", "a OR OR b", "syntax", "OR at byte 5"},
		{"AND OR", "a AND OR b", "syntax", "OR at byte 6"},
		{"OR at the start of a group", "a (OR b)", "syntax", "OR at byte 3"},
		{"OR before a close", "(a OR) b", "syntax", "OR at byte 3"},
		{"OR after a time bound only", "after:24h OR action:user.login", "syntax", "after: and before: bound the whole query"},
		{"OR before a time bound only", "action:user.login OR after:24h", "syntax", "OR at byte 18 needs a term on each side: after: and before:"},
		{"time bound in parentheses", "(after:24h action:user.login)", "syntax", "inside parentheses"},
		{"repeats past the value limit", repeatedActors(22, 3), "max_length", "repeated actor: qualifiers add up"},
		{"too many terms in groups", strings.Repeat("(w OR w) ", MaxTerms/2) + "w", "max_length", "more than 32 terms"},
		{"too many values", "category:" + strings.Repeat("audit,", MaxValues) + "audit", "max_length", "more than 64 values"},
		{"actor too long", "actor:" + strings.Repeat("x", 257), "max_length", "actor value is 257 characters"},
		{"target too long", "target:" + strings.Repeat("x", 257), "max_length", "target value"},
		{"source too long", "source:" + strings.Repeat("x", 257), "max_length", "source value"},
		{"invalid utf-8", "caf\xe9", "format", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := Parse(tt.in, now)
			if err == nil {
				t.Fatalf("Parse(%q) = %#v, want a %s error", tt.in, q, tt.rule)
			}
			var e *stele.Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) error %T %v, want *stele.Error", tt.in, err, err)
			}
			if e.Code != stele.EINVALID || len(e.Details) != 1 {
				t.Fatalf("Parse(%q) = %#v, want code invalid and one detail", tt.in, e)
			}
			d := e.Details[0]
			if d.Field != "q" || d.Index != 0 || d.Rule != tt.rule {
				t.Errorf("Parse(%q) detail = %+v, want field q, index 0, rule %s", tt.in, d, tt.rule)
			}
			if !strings.HasPrefix(e.Message, "query: ") || !strings.Contains(e.Message, tt.msg) || !strings.Contains(d.Message, tt.msg) {
				t.Errorf("Parse(%q) message %q / %q, want it to contain %q", tt.in, e.Message, d.Message, tt.msg)
			}
			if !reflect.DeepEqual(q, stele.Query{}) {
				t.Errorf("Parse(%q) returned %#v with its error, want the zero query", tt.in, q)
			}
		})
	}
}

func TestRelativeTimeUsesNow(t *testing.T) {
	a, _ := Parse("after:1h", now)
	b, _ := Parse("after:1h", now.Add(time.Hour))
	if got := b.After.Sub(a.After); got != time.Hour {
		t.Errorf("moving now by 1h moved after:1h by %v", got)
	}
	if a.After.Location() != time.UTC {
		t.Errorf("after:1h is in %v, want UTC", a.After.Location())
	}
	// What stays the same across the pages of one query is the bound as
	// written.
	if a.AfterAgo != "1h" || b.AfterAgo != a.AfterAgo {
		t.Errorf("after:1h is kept as %q and %q, want 1h", a.AfterAgo, b.AfterAgo)
	}
}

func TestRoundTripOfBuiltQueries(t *testing.T) {
	// Queries built in code, with values that need quoting.
	qs := []stele.Query{
		{Terms: []stele.Term{text("-leading dash"), text(`back\slash "quote"`), text("comma,colon:")}},
		{Terms: []stele.Term{term(stele.FieldActor, "a b", "c,d", `e"f`, "g:h", "-i", `\`)}},
		{Terms: []stele.Term{notTerm(stele.FieldAction, "user.*", "api_key.used")}, After: utc("2026-11-01T00:00:00.5Z"), Before: utc("2026-11-02T00:00:00Z")},
		{Terms: []stele.Term{term(stele.FieldIP, "2001:db8::1")}},
		// Repeats built in code AND together: the canonical form keeps them apart.
		{Terms: []stele.Term{term(stele.FieldAction, "user.login"), term(stele.FieldCategory, "audit"), term(stele.FieldAction, "user.*")}},
		{Terms: []stele.Term{grp(all(term(stele.FieldActor, "a"), text("OR")), all(notTerm(stele.FieldIP, "10.0.0.1")))}},
		{Terms: []stele.Term{text("x"), notGrp(all(term(stele.FieldOutcome, "failure")), all(text("(y)")))}},
	}
	for _, q := range qs {
		got, err := Parse(q.String(), now)
		if err != nil {
			t.Errorf("Parse(%q): %v", q.String(), err)
			continue
		}
		if !reflect.DeepEqual(got, q) {
			t.Errorf("Parse(%q)\n got %#v\nwant %#v", q.String(), got, q)
		}
	}
}

// checkRoundTrip checks that parsing q.String() gives q again.
func checkRoundTrip(t *testing.T, in string, q stele.Query) {
	t.Helper()
	s := q.String()
	again, err := Parse(s, now)
	if err != nil {
		t.Fatalf("round trip of %q: Parse(%q): %v", in, s, err)
	}
	if !equalQueries(q, again) {
		t.Fatalf("round trip of %q through %q\n got %#v\nwant %#v", in, s, again, q)
	}
}

// equalQueries compares queries, times by instant.
func equalQueries(a, b stele.Query) bool {
	return a.After.Equal(b.After) && a.Before.Equal(b.Before) &&
		(len(a.Terms) == 0 && len(b.Terms) == 0 || reflect.DeepEqual(a.Terms, b.Terms))
}

func BenchmarkParse(b *testing.B) {
	const q = `action:user.login,user.logout,user.mfa_* -outcome:success actor:"Ada Lovelace" ip:203.0.113.7 after:7d before:2026-11-24T12:00:00Z "wire transfer" -test`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(q, now); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCanonicalFormMayExceedTheLimit(t *testing.T) {
	// The limit is on the text given; writing out a relative time makes the
	// canonical form longer, so it may not parse again.
	in := "after:1h " + strings.Repeat("w", MaxBytes-len("after:1h "))
	q, err := Parse(in, now)
	if err != nil {
		t.Fatalf("Parse of %d bytes: %v", len(in), err)
	}
	if s := q.String(); len(s) <= MaxBytes {
		t.Fatalf("canonical form is %d bytes, expected it to exceed %d", len(s), MaxBytes)
	}
}

// TestRoundTripOfCombinedShapes parses queries made of the language's pieces
// put together at random (a fixed seed) and checks that the canonical form
// parses to the same query.
func TestRoundTripOfCombinedShapes(t *testing.T) {
	pieces := []string{"action:user.login", "action:user.*", "-action:user.logout", "actor:ada@acme.io", "actor:bob",
		"-actor:eve", "category:audit", "outcome:failure", "-outcome:success", "ip:10.0.0.1", "word", `"two words"`,
		"-word", "OR", "AND", "or", "(", ")", "-(", "after:24h", "before:2026-11-01"}
	r := rand.New(rand.NewPCG(1, 2))
	parsed := 0
	for range 20000 {
		var b strings.Builder
		for range 1 + r.IntN(10) {
			b.WriteString(pieces[r.IntN(len(pieces))])
			b.WriteByte(' ')
		}
		in := b.String()
		q, err := Parse(in, now)
		if err != nil {
			continue
		}
		parsed++
		if e := normal(q.Terms, 0); e != "" {
			t.Fatalf("Parse(%q) = %#v: %s", in, q, e)
		}
		checkRoundTrip(t, in, q)
	}
	if parsed < 1000 {
		t.Fatalf("only %d random queries parsed", parsed)
	}
}
