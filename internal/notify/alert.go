package notify

import (
	"net/url"
	"strings"
	"time"

	"github.com/stele-audit/stele"
)

// MaxEvents is the most triggering events one alert carries; the alert's
// console link finds the rest.
const MaxEvents = 20

// GroupBy values: what a threshold may count per.
const (
	GroupByActor  = "actor"
	GroupByIP     = "ip"
	GroupBySource = "source"
)

// Alert is one firing of an alert rule, as every destination receives it.
// Everything taken from events (the group's value, the events themselves) is
// attacker-controlled: each destination escapes it for its own format.
type Alert struct {
	// ID names this firing; every destination's delivery of it shares it.
	ID      string
	Account string
	Rule    Rule
	// Group is the group that crossed the threshold when the rule counts
	// per actor, ip or source; nil otherwise.
	Group *Group
	// Count is how many events matched in the window.
	Count int
	// WindowStart and WindowEnd bound the counted events' times: (start, end].
	// Both are zero for a rule without a window (every matching event fires).
	WindowStart, WindowEnd time.Time
	FiredAt                time.Time
	// Events are the triggering events, at most MaxEvents; Count may be larger.
	Events []Event
	// Test marks an alert sent by "send test": the rule did not fire.
	Test bool
}

// Rule is what an alert says of the rule that fired.
type Rule struct {
	ID    string
	Name  string
	Query string
	// Threshold is nil for a rule that fires on every matching event.
	Threshold *Threshold
}

// Threshold is a rule's "at least Count events in Window", counted per
// GroupBy when it is set.
type Threshold struct {
	Count   int
	Window  time.Duration
	GroupBy string // "", GroupByActor, GroupByIP or GroupBySource
}

// Group is the group an alert counted: By is the threshold's GroupBy and
// Value the actor (id or email), ip or source id.
type Group struct {
	By    string `json:"by"`
	Value string `json:"value"`
}

// Event is what an alert carries of one triggering event: enough for a
// receiver to see who did what to what, when, from where and with which
// outcome, and to find the event itself. An event's metadata, user agent
// and request id stay in Stele, behind the event's link.
type Event struct {
	ID          string
	Seq         int64
	Time        time.Time
	Action      string
	Category    string
	Outcome     string
	Actor       *stele.Ref
	Target      *stele.Ref
	Source      *stele.Ref
	IP          string
	Description string
}

// EventOf returns what an alert carries of e.
func EventOf(e *stele.Event) Event {
	return Event{
		ID: e.ID, Seq: e.Seq, Time: e.Time, Action: e.Action, Category: e.Category, Outcome: e.Outcome,
		Actor: cloneRef(e.Actor), Target: cloneRef(e.Target), Source: cloneRef(e.Source),
		IP: e.IP, Description: e.Description,
	}
}

func cloneRef(r *stele.Ref) *stele.Ref {
	if r.IsZero() {
		return nil
	}
	c := *r
	return &c
}

// Omitted returns how many matching events the alert does not carry.
func (a *Alert) Omitted() int {
	return max(a.Count-len(a.Events), 0)
}

// SearchQuery returns the query that finds the alert's events in the
// console: the rule's query, the group's value and the window's bounds.
// The rule's query is parenthesised when the group's value is added: side
// by side, a qualifier of the same field would join the rule's as an
// alternative, and an OR in the rule would take the value into its last
// alternative only. (A rule's query has no after: or before:, which may
// not stand inside parentheses.)
func (a *Alert) SearchQuery() string {
	q := stele.Query{}
	if a.Group != nil && a.Group.Value != "" {
		if f, ok := groupFields[a.Group.By]; ok {
			q.Terms = append(q.Terms, stele.Term{Field: f, Values: []string{a.Group.Value}})
		}
	}
	if !a.WindowStart.IsZero() {
		q.After = a.WindowStart
	}
	if !a.WindowEnd.IsZero() {
		// before: is exclusive and the window's end is not.
		q.Before = a.WindowEnd.Add(stele.TimeUnit)
	}
	rule := strings.TrimSpace(a.Rule.Query)
	if len(q.Terms) > 0 && rule != "" {
		rule = "(" + rule + ")"
	}
	return strings.TrimSpace(rule + " " + q.String())
}

var groupFields = map[string]stele.Field{
	GroupByActor:  stele.FieldActor,
	GroupByIP:     stele.FieldIP,
	GroupBySource: stele.FieldSource,
}

// Console builds links into the web console from its public base URL.
type Console struct {
	base string // without a trailing slash
}

// SearchURL returns the Audit Logs page filtered to the alert's events.
func (c Console) SearchURL(a *Alert) string {
	return c.base + "/admin/audit-logs?" + url.Values{"q": {a.SearchQuery()}}.Encode()
}

// EventURL returns the page of one event.
func (c Console) EventURL(id string) string {
	return c.base + "/admin/audit-logs/" + url.PathEscape(id)
}

// refText names an actor, target or source for people: "Name (email or
// id)", or whichever of them is set.
func refText(r *stele.Ref) string {
	if r == nil {
		return ""
	}
	id := r.Email
	if id == "" {
		id = r.ID
	}
	switch {
	case r.Name == "":
		return id
	case id == "":
		return r.Name
	}
	return r.Name + " (" + id + ")"
}
