package console

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/query"
)

// filters are the Audit Logs page's controls. They all live in the URL
// (a GET form), so a view can be bookmarked and shared; the export links
// carry the same parameters and so export exactly the filtered set.
type filters struct {
	Q        string // the query box: the whole query language
	Category string
	Action   string
	Actor    string
	Outcome  string
	Range    string // 24h, 7d, 30d, all or custom
	From, To string // custom range, dates (YYYY-MM-DD) in UTC, both inclusive
	Cursor   string
	// Account is the account whose log an operator reads; "" for the
	// visitor's own (see Server.readAccount).
	Account string
}

// ranges are the time presets, in the order the page offers them.
var ranges = []struct{ Value, Label string }{
	{"24h", "Last 24 hours"}, {"7d", "Last 7 days"}, {"30d", "Last 30 days"}, {"all", "All time"}, {"custom", "Custom range"},
}

const defaultRange = "7d"

func parseFilters(v url.Values) filters {
	f := filters{
		Q: strings.TrimSpace(v.Get("q")), Category: v.Get("category"), Action: strings.TrimSpace(v.Get("action")),
		Actor: strings.TrimSpace(v.Get("actor")), Outcome: v.Get("outcome"), Range: v.Get("range"),
		From: v.Get("from"), To: v.Get("to"), Cursor: v.Get("cursor"), Account: v.Get("account"),
	}
	if !slices.ContainsFunc(ranges, func(r struct{ Value, Label string }) bool { return r.Value == f.Range }) {
		f.Range = defaultRange
	}
	return f
}

// values returns the filters as URL parameters, without the cursor.
func (f filters) values() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("account", f.Account)
	set("q", f.Q)
	set("category", f.Category)
	set("action", f.Action)
	set("actor", f.Actor)
	set("outcome", f.Outcome)
	set("range", f.Range)
	if f.Range == "custom" {
		set("from", f.From)
		set("to", f.To)
	}
	return v
}

// query builds the stele.Query of the filters: the query box parsed, the
// other controls added as terms, the range as time bounds (an after: or
// before: in the query box wins over the range).
func (f filters) query(now time.Time) (stele.Query, error) {
	q, err := query.Parse(f.Q, now)
	if err != nil {
		return q, err
	}
	add := func(field stele.Field, val string) {
		if val != "" {
			q.Terms = append(q.Terms, stele.Term{Field: field, Values: []string{val}})
		}
	}
	add(stele.FieldCategory, f.Category)
	add(stele.FieldAction, f.Action)
	add(stele.FieldActor, f.Actor)
	add(stele.FieldOutcome, f.Outcome)
	after, before, err := f.bounds(now)
	if err != nil {
		return q, err
	}
	if q.After.IsZero() {
		q.After = after
		if f.relative() {
			// As after:24h would: the preset, not the instant it came
			// to now, is what the pages of this view share.
			q.AfterAgo = f.Range
		}
	}
	if q.Before.IsZero() {
		q.Before = before
	}
	return q, nil
}

// readAs returns how the query box was read, its canonical form, when
// that differs from what was typed beyond spacing (OR and parentheses made
// explicit, repeated qualifiers joined, a relative time written out) or
// when it searched for the word or or and, so that an ambiguous query
// shows what it searched for; "" otherwise, and for a query that does not
// parse (its error says why).
func (f filters) readAs(now time.Time) string {
	q, err := query.Parse(f.Q, now)
	if err != nil {
		return ""
	}
	read := q.String()
	if read == strings.Join(strings.Fields(f.Q), " ") && !hasOperatorWord(q.Terms) {
		return ""
	}
	return read
}

// hasOperatorWord reports whether terms search for "or" or "and" as words,
// as they do written in lower case.
func hasOperatorWord(terms []stele.Term) bool {
	return slices.ContainsFunc(terms, func(t stele.Term) bool {
		if t.Field == stele.FieldText {
			return slices.ContainsFunc(t.Values, func(v string) bool { return strings.EqualFold(v, "or") || strings.EqualFold(v, "and") })
		}
		return slices.ContainsFunc(t.Any, hasOperatorWord)
	})
}

// relative reports whether the range is a preset counted back from now.
func (f filters) relative() bool {
	return f.Range == "24h" || f.Range == "7d" || f.Range == "30d"
}

func (f filters) bounds(now time.Time) (after, before time.Time, err error) {
	switch f.Range {
	case "24h":
		return now.Add(-24 * time.Hour), time.Time{}, nil
	case "7d":
		return now.Add(-7 * 24 * time.Hour), time.Time{}, nil
	case "30d":
		return now.Add(-30 * 24 * time.Hour), time.Time{}, nil
	case "custom":
		if f.From != "" {
			if after, err = time.Parse(time.DateOnly, f.From); err != nil {
				return after, before, &stele.Error{Code: stele.EINVALID, Message: "the start date must be YYYY-MM-DD",
					Details: []stele.FieldError{{Field: "from", Rule: "format"}}}
			}
		}
		if f.To != "" {
			t, err := time.Parse(time.DateOnly, f.To)
			if err != nil {
				return after, before, &stele.Error{Code: stele.EINVALID, Message: "the end date must be YYYY-MM-DD",
					Details: []stele.FieldError{{Field: "to", Rule: "format"}}}
			}
			before = t.Add(24 * time.Hour) // the end date is inclusive
		}
	}
	return after, before, nil
}

// active reports whether any filter beyond the default range is set.
func (f filters) active() bool {
	return f.Q != "" || f.Category != "" || f.Action != "" || f.Actor != "" || f.Outcome != "" || f.Range != defaultRange
}
