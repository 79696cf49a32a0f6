package query

import (
	"slices"

	"github.com/stele-audit/stele"
)

// The normal form of a parsed query: repeats of a qualifier joined, groups
// of one alternative spliced into the terms around them, nested ORs
// spread, so that the common shapes reach the stores as the plain terms
// they read fastest, and the canonical form (stele.Query.String) of a
// query parses back to the same query.

// conjunction joins the positive qualifiers of one field among terms into
// the first of them: side by side, action:a action:b means either. Groups
// of one alternative are spliced in, without joining: parentheses keep
// their terms apart.
func conjunction(terms []stele.Term) []stele.Term {
	var out []stele.Term
	first := map[stele.Field]int{}
	var push func(t stele.Term, join bool)
	push = func(t stele.Term, join bool) {
		switch {
		case t.Field == stele.FieldGroup && len(t.Any) == 1 && !t.Negate:
			for _, u := range t.Any[0] {
				push(u, false)
			}
		case t.Field == stele.FieldGroup && len(t.Any) == 1 && len(t.Any[0]) == 1:
			inner := t.Any[0][0] // -(x) is x negated
			inner.Negate = !inner.Negate
			push(inner, false)
		case join && t.Mergeable():
			if i, ok := first[t.Field]; ok {
				out[i].Values = joinValues(out[i].Values, t.Values)
				return
			}
			first[t.Field] = len(out)
			out = append(out, t)
		default:
			out = append(out, t)
		}
	}
	for _, t := range terms {
		push(t, true)
	}
	return out
}

// group makes the group term of alternatives: an alternative that is a
// group of alternatives itself is spread into them, and alternatives that
// are each one positive qualifier of one field join into one
// (action:a OR action:b is action:a,b).
func group(alts [][]stele.Term, negate bool) stele.Term {
	var flat [][]stele.Term
	for _, a := range alts {
		if len(a) == 1 && a[0].Field == stele.FieldGroup && !a[0].Negate {
			flat = append(flat, a[0].Any...)
		} else {
			flat = append(flat, a)
		}
	}
	var out [][]stele.Term
	first := map[stele.Field]int{}
	for _, a := range flat {
		if len(a) == 1 && a[0].Mergeable() {
			if i, ok := first[a[0].Field]; ok {
				out[i][0].Values = joinValues(out[i][0].Values, a[0].Values)
				continue
			}
			first[a[0].Field] = len(out)
		}
		out = append(out, a)
	}
	return stele.Term{Field: stele.FieldGroup, Any: out, Negate: negate}
}

// joinValues appends to values those of more it does not hold yet.
func joinValues(values, more []string) []string {
	for _, v := range more {
		if !slices.Contains(values, v) {
			values = append(values, v)
		}
	}
	return values
}

// checkValues enforces MaxValues on the terms repeated qualifiers joined.
func checkValues(t stele.Term) error {
	if len(t.Values) > MaxValues {
		return fail("max_length", "%s: has more than %d values (repeated %s: qualifiers add up)", t.Field, MaxValues, t.Field)
	}
	for _, c := range t.Any {
		for _, u := range c {
			if err := checkValues(u); err != nil {
				return err
			}
		}
	}
	return nil
}
