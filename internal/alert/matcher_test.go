package alert

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/search"
)

func TestMatchesAreStoredInTheCommitOfTheirEvents(t *testing.T) {
	s := newStack(t)
	admins := s.rule(t, s.acme, Input{Name: "Admins", Query: "action:user.role_changed", Destinations: webhookTo("http://127.0.0.1:1/")})
	fails := s.rule(t, s.acme, Input{Name: "Failed logins", Query: "action:user.login_failed", Threshold: threshold(5, "10m", "actor"),
		Destinations: webhookTo("http://127.0.0.1:1/")})
	users := s.rule(t, s.acme, Input{Name: "Users", Query: "action:user.* -outcome:success", Destinations: webhookTo("http://127.0.0.1:1/")})
	s.rule(t, s.beta, Input{Name: "Beta's", Query: "action:user.role_changed", Destinations: webhookTo("http://127.0.0.1:1/")})

	rs := s.ingest(t, s.acme, `{"events": [
		{"action": "user.login", "actor": {"id": "u_1"}, "outcome": "success"},
		{"action": "user.role_changed", "actor": {"id": "u_1"}, "outcome": "success"},
		{"action": "user.login_failed", "actor": {"id": "u_2"}, "outcome": "failure"},
		{"action": "user.login_failed", "actor": {"email": "eve@example.com"}, "outcome": "failure"},
		{"action": "user.login_failed", "actor": {"id": "u_2"}, "outcome": "failure"},
		{"action": "integration.added", "actor": {"id": "u_2"}}]}`)
	got := s.matches(t, s.acme)
	type m struct {
		rule string
		seq  int64
	}
	var pairs []m
	groups := map[int64]int64{}
	for _, x := range got {
		pairs = append(pairs, m{s.ruleID(t, x.Rule), x.Seq})
		if s.ruleID(t, x.Rule) == fails.ID {
			groups[x.Seq] = x.Group
		} else if x.Group != 0 {
			t.Errorf("rule %s counts no group, but its match at %d has group token %d", s.ruleID(t, x.Rule), x.Seq, x.Group)
		}
	}
	want := []m{{admins.ID, rs[1].Seq}, {fails.ID, rs[2].Seq}, {users.ID, rs[2].Seq}, {fails.ID, rs[3].Seq}, {users.ID, rs[3].Seq},
		{fails.ID, rs[4].Seq}, {users.ID, rs[4].Seq}}
	bySeqRule := func(a, b m) int {
		if a.seq != b.seq {
			return int(a.seq - b.seq)
		}
		return strings.Compare(a.rule, b.rule)
	}
	slices.SortFunc(want, bySeqRule)
	slices.SortFunc(pairs, bySeqRule)
	if !slices.Equal(pairs, want) {
		t.Fatalf("matches\n%v\nwant\n%v", pairs, want)
	}
	if groups[rs[2].Seq] == 0 || groups[rs[2].Seq] != groups[rs[4].Seq] || groups[rs[3].Seq] == groups[rs[2].Seq] || groups[rs[3].Seq] == 0 {
		t.Fatalf("group tokens %v: u_2's two events share one, eve's (by email) another, none zero", groups)
	}
	if ms := s.matches(t, s.beta); len(ms) != 0 {
		t.Fatalf("beta's rule matched acme's events: %v", ms)
	}
	// A replayed idempotency key stores nothing new, matches included.
	s.ingest(t, s.acme, `{"action": "user.role_changed", "idempotency_key": "k1"}`)
	n := len(s.matches(t, s.acme))
	s.ingest(t, s.acme, `{"action": "user.role_changed", "idempotency_key": "k1"}`)
	if again := len(s.matches(t, s.acme)); again != n {
		t.Fatalf("a replayed event added %d matches", again-n)
	}
}

func TestSteleOwnAlertEventsMatchNoRule(t *testing.T) {
	s := newStack(t)
	all := s.rule(t, s.acme, Input{Name: "Audit", Query: "category:audit", Destinations: webhookTo("http://127.0.0.1:1/")})
	cfg := s.rule(t, s.acme, Input{Name: "Alert settings", Query: "action:alert_rule.*", Destinations: webhookTo("http://127.0.0.1:1/")})
	if err := s.audit.AlertFired(t.Context(), "acme", audit.AlertFiring{ID: "alr_x", RuleID: all.ID, RuleName: "Audit", Count: 1}); err != nil {
		t.Fatal(err)
	}
	// A rule change is Stele's own event too, but not an alert: it matches.
	s.rule(t, s.acme, Input{Name: "Another", Query: "action:user.login", Destinations: webhookTo("http://127.0.0.1:1/")})
	var rules []string
	for _, m := range s.matches(t, s.acme) {
		rules = append(rules, s.ruleID(t, m.Rule))
	}
	// cfg matches its own creation (it is in force when that is recorded)
	// and Another's; Audit matches nothing.
	if !slices.Equal(rules, []string{cfg.ID, cfg.ID}) {
		t.Fatalf("matches of rules %v; want only %s's two (alert_rule.created), none for alert.fired", rules, cfg.ID)
	}
	// A producer's own event of that name is no loop: it matches.
	s.ingest(t, s.acme, `{"action": "alert.fired", "category": "audit"}`)
	if ms := s.matches(t, s.acme); len(ms) != 3 || s.ruleID(t, ms[2].Rule) != all.ID {
		t.Fatalf("a producer's alert.fired: matches %v", ms)
	}
}

func TestRuleCreatedElsewhereCountsFromTheNextCommit(t *testing.T) {
	s := newStack(t)
	s.ingest(t, s.acme, `{"action": "user.role_changed"}`) // this process's matcher has read the rules: none
	other := openStack(t, s.file)                          // another process on the same file
	r := other.rule(t, other.acme, Input{Name: "Admins", Query: "action:user.role_changed", Destinations: webhookTo("http://127.0.0.1:1/")})
	rs := s.ingest(t, s.acme, `{"action": "user.role_changed"}`)
	ms := s.matches(t, s.acme)
	if len(ms) != 1 || s.ruleID(t, ms[0].Rule) != r.ID || ms[0].Seq != rs[0].Seq {
		t.Fatalf("after another process created a rule, the next event's matches are %v; want one of %s at seq %d", ms, r.ID, rs[0].Seq)
	}
	// And a rule disabled elsewhere stops matching from the next commit.
	if _, err := other.rules.SetEnabled(t.Context(), other.acme, r.ID, false, audit.CLI()); err != nil {
		t.Fatal(err)
	}
	s.ingest(t, s.acme, `{"action": "user.role_changed"}`)
	if n := len(s.matches(t, s.acme)); n != 1 {
		t.Fatalf("a rule disabled elsewhere still matched: %d matches", n)
	}
}

// TestIndexedMatchingAgreesWithCheckingEveryRule holds the action index
// to the plain answer, search.Matches against every rule, over random
// rules and events.
func TestIndexedMatchingAgreesWithCheckingEveryRule(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	actions := []string{"user.login", "user.login_failed", "user.role_changed", "integration.added", "integration.removed",
		"finding.deleted", "u.x", "user", "users.created", "alert_rule.created"}
	values := []string{"user.login", "user.*", "us*", "integration.*", "finding.deleted", "user.login_failed", "u*", "users.*"}
	others := []string{"outcome:failure", "-outcome:success", "actor:u_1", "category:authentication", "-action:user.login", "ada", "",
		"OR action:finding.deleted", "OR actor:u_2", "(action:u.x OR action:users.* outcome:failure)", "-(action:user.login OR ada)",
		"(actor:u_1 OR action:user.login_failed)", "OR (action:integration.removed OR action:user.role_changed -outcome:failure)"}
	var rules []*stele.AlertRule
	for i := range 60 {
		var parts []string
		if r.IntN(4) > 0 {
			n := 1 + r.IntN(3)
			var vs []string
			for range n {
				vs = append(vs, values[r.IntN(len(values))])
			}
			parts = append(parts, "action:"+strings.Join(vs, ","))
		}
		if o := others[r.IntN(len(others))]; o != "" {
			parts = append(parts, o)
		}
		if len(parts) == 0 || strings.HasPrefix(parts[0], "OR") {
			parts = append([]string{"outcome:failure"}, parts...)
		}
		rules = append(rules, &stele.AlertRule{ID: fmt.Sprintf("rul_%02d", i), Key: int64(100 + i), AccountID: 1, Query: strings.Join(parts, " ")})
	}
	set := Compile(rules, 1, time.Now())
	for i := range 2000 {
		e := &stele.Event{Action: actions[r.IntN(len(actions))], Outcome: []string{"success", "failure"}[r.IntN(2)],
			Category: "authentication", Actor: &stele.Ref{ID: []string{"u_1", "u_2"}[r.IntN(2)], Name: []string{"Ada", "Bob"}[r.IntN(2)]},
			Time: time.Unix(int64(i), 0)}
		var got []string
		for _, m := range set.Match(nil, 1, e, seal.RowTokens{}) {
			got = append(got, fmt.Sprintf("rul_%02d", m.Rule-100))
		}
		var want []string
		for _, rule := range rules {
			if q := set.accounts[1].query(rule.Key); search.Matches(e, q) {
				want = append(want, rule.ID)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("event %s %s %+v: indexed matching found %v, every rule %v", e.Action, e.Outcome, e.Actor, got, want)
		}
	}
}

// query returns the compiled query of the rule with key, for the test.
func (ar *accountRules) query(key int64) stele.Query {
	for _, cs := range [][]*compiled{ar.always} {
		for _, c := range cs {
			if c.key == key {
				return c.q
			}
		}
	}
	for _, m := range []map[string][]*compiled{ar.exact, ar.prefixes} {
		for _, cs := range m {
			for _, c := range cs {
				if c.key == key {
					return c.q
				}
			}
		}
	}
	panic(fmt.Sprint("no rule ", key))
}

// ruleID returns the id of the rule with key.
func (s *stack) ruleID(t *testing.T, key int64) string {
	t.Helper()
	for _, a := range []*stele.Account{s.acme, s.beta} {
		rs, err := s.db.AlertRules(t.Context(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Key == key {
				return r.ID
			}
		}
	}
	return fmt.Sprint("key ", key)
}
