package notify

import (
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/query"
)

var fired = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// hostileAlert is an alert whose event-derived strings try every trick the
// destinations must defuse: markup, Slack mentions and links, newlines
// meant to add mail headers, and the query language's own quotes.
func hostileAlert() *Alert {
	evil := `<script>alert(1)</script> <!channel> <http://evil.example|click> & "q" a,b`
	return &Alert{
		ID: "alr_1", Account: "acme",
		Rule: Rule{ID: "rul_1", Name: "Role changes\r\nBcc: victim@example.com", Query: "action:user.role_changed",
			Threshold: &Threshold{Count: 3, Window: 10 * time.Minute, GroupBy: GroupByActor}},
		Group: &Group{By: GroupByActor, Value: "ada@acme.io\r\nX-Evil: 1 " + evil},
		Count: 4, WindowStart: fired.Add(-10 * time.Minute), WindowEnd: fired, FiredAt: fired,
		Events: []Event{{
			ID: "evt_0000000000000001", Seq: 1, Time: fired.Add(-time.Minute), Action: "user.role_changed",
			Category: "user_management", Outcome: "success",
			Actor:       &stele.Ref{Type: "user", ID: "u_1", Name: evil, Email: "ada@acme.io"},
			Target:      &stele.Ref{ID: "u_2", Name: "<b>Bob</b>"},
			IP:          "203.0.113.7",
			Description: "line one\nline two " + evil,
		}},
	}
}

func TestSearchQueryFindsTheAlertsEvents(t *testing.T) {
	a := hostileAlert()
	q, err := query.Parse(a.SearchQuery(), fired)
	if err != nil {
		t.Fatalf("the console would refuse %q: %v", a.SearchQuery(), err)
	}
	want := []stele.Term{
		{Field: stele.FieldAction, Values: []string{"user.role_changed"}},
		{Field: stele.FieldActor, Values: []string{a.Group.Value}},
	}
	if !slices.EqualFunc(q.Terms, want, func(x, y stele.Term) bool {
		return x.Field == y.Field && slices.Equal(x.Values, y.Values) && x.Negate == y.Negate
	}) {
		t.Errorf("terms = %+v, want %+v", q.Terms, want)
	}
	if !q.After.Equal(a.WindowStart) || !q.Before.After(a.WindowEnd) || q.Before.After(a.WindowEnd.Add(time.Millisecond)) {
		t.Errorf("bounds (%v, %v) do not cover the window (%v, %v]", q.After, q.Before, a.WindowStart, a.WindowEnd)
	}
}

// The group's value narrows the rule's query, whatever the rule's query
// holds: an OR, or the same field.
func TestSearchQueryKeepsTheRulesQueryWhole(t *testing.T) {
	for _, rule := range []string{"action:user.login OR actor:u_9", "actor:u_9,u_8", "actor:u_9"} {
		a := &Alert{Rule: Rule{Query: rule}, Group: &Group{By: GroupByActor, Value: "ada@acme.io"}}
		q, err := query.Parse(a.SearchQuery(), fired)
		if err != nil {
			t.Fatalf("%q: %v", a.SearchQuery(), err)
		}
		last := q.Terms[len(q.Terms)-1]
		if len(q.Terms) != 2 || last.Field != stele.FieldActor || !slices.Equal(last.Values, []string{"ada@acme.io"}) {
			t.Errorf("rule %q: %q reads as %q, want the rule AND the actor", rule, a.SearchQuery(), q)
		}
	}
}

func TestConsoleLinks(t *testing.T) {
	c := Console{base: "https://stele.example.com"}
	a := hostileAlert()
	u, err := url.Parse(c.SearchURL(a))
	if err != nil || u.Path != "/admin/audit-logs" || u.Query().Get("q") != a.SearchQuery() {
		t.Errorf("search URL %q: path %q, q %q", c.SearchURL(a), u.Path, u.Query().Get("q"))
	}
	if got := c.EventURL("evt_0000000000000001"); got != "https://stele.example.com/admin/audit-logs/evt_0000000000000001" {
		t.Errorf("event URL = %q", got)
	}
	if got := c.EventURL("../x?y"); got != "https://stele.example.com/admin/audit-logs/..%2Fx%3Fy" {
		t.Errorf("an odd id stays one path segment: %q", got)
	}
}

func TestEventOfKeepsNoMetadata(t *testing.T) {
	e := &stele.Event{ID: "evt_1", Action: "user.login", Actor: &stele.Ref{ID: "u_1"}, Target: &stele.Ref{},
		UserAgent: "ua", RequestID: "req", Metadata: map[string]any{"k": "v"}}
	got := EventOf(e)
	if got.Actor == nil || got.Actor == e.Actor || got.Target != nil {
		t.Errorf("refs: actor %v (copied, not shared), target %v (empty is nil)", got.Actor, got.Target)
	}
}
