package search

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/seal"
)

// Matches reports whether e satisfies every term of q (a group: every
// term of one of its alternatives) and its time range. The
// store has already filtered on clear columns and tokens; checking again on
// the plaintext removes blind-index collisions and applies text terms.
func Matches(e *stele.Event, q stele.Query) bool {
	us := e.Time
	if !q.After.IsZero() && us.Before(q.After) {
		return false
	}
	if !q.Before.IsZero() && !us.Before(q.Before) {
		return false
	}
	for _, t := range q.Terms {
		if matchTerm(e, t) == t.Negate {
			return false
		}
	}
	return true
}

func matchTerm(e *stele.Event, t stele.Term) bool {
	if t.Field == stele.FieldGroup {
		return slices.ContainsFunc(t.Any, func(c []stele.Term) bool {
			for _, u := range c {
				if matchTerm(e, u) == u.Negate {
					return false
				}
			}
			return true
		})
	}
	for _, v := range t.Values {
		if matchValue(e, t.Field, v) {
			return true
		}
	}
	return false
}

func matchValue(e *stele.Event, f stele.Field, v string) bool {
	switch f {
	case stele.FieldAction:
		if p, ok := strings.CutSuffix(v, "*"); ok {
			return strings.HasPrefix(e.Action, p)
		}
		return e.Action == v
	case stele.FieldCategory:
		return e.Category == v
	case stele.FieldOutcome:
		return e.Outcome == v
	case stele.FieldActor:
		return e.Actor != nil && ((e.Actor.ID != "" && e.Actor.ID == v) ||
			(e.Actor.Email != "" && seal.NormalizeEmail(e.Actor.Email) == seal.NormalizeEmail(v)))
	case stele.FieldTarget:
		return e.Target != nil && e.Target.ID != "" && e.Target.ID == v
	case stele.FieldSource:
		return e.Source != nil && e.Source.ID != "" && e.Source.ID == v
	case stele.FieldIP:
		return e.IP != "" && e.IP == seal.NormalizeIP(v)
	case stele.FieldText:
		return matchText(e, strings.ToLower(v))
	}
	return false
}

// matchText looks for word, lowercased, in the description, the parties'
// names, ids and emails, and the metadata values.
func matchText(e *stele.Event, word string) bool {
	has := func(s string) bool { return s != "" && strings.Contains(strings.ToLower(s), word) }
	if has(e.Description) {
		return true
	}
	for _, r := range []*stele.Ref{e.Actor, e.Target, e.Source} {
		if r != nil && (has(r.Name) || has(r.ID) || has(r.Email)) {
			return true
		}
	}
	return slices.ContainsFunc(metaValues(e.Metadata), has)
}

func metaValues(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case json.Number:
			out = append(out, string(v))
		}
	}
	return out
}
