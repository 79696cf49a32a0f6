package sqlstore

import (
	"context"

	"github.com/stele-audit/stele"
)

// The part of turning a stele.RowQuery into SQL that does not depend on the
// dialect: which filter drives a union of index scans and its branches, the
// columns of each blind field, and the upper bound of a prefix range.

// Arm is one branch of a union query: rows whose col equals val.
type Arm struct {
	Col string
	Val any
}

// PickDriver returns the index of the first positive filter that matches
// several values of indexed columns, and its branches; -1 if there is none.
// A group (an OR) drives when each of its alternatives has such a filter,
// with the branches of all of them; the branches then only narrow the rows
// down, and the caller keeps the group's own condition (Keep).
func PickDriver(filters []stele.RowFilter) (int, []Arm) {
	for i, f := range filters {
		arms := armsOf(f)
		if len(arms) >= 2 && len(arms) <= stele.MaxIndexedValues {
			return i, arms
		}
	}
	return -1, nil
}

// armsOf returns the branches that find every row f matches, each an
// index range; nil when there are none.
func armsOf(f stele.RowFilter) []Arm {
	if f.Negate {
		return nil
	}
	var arms []Arm
	switch f.Field {
	case stele.FieldAction:
		if len(f.Prefixes) > 0 {
			return nil
		}
		for _, v := range f.Values {
			arms = append(arms, Arm{"action", v})
		}
	case stele.FieldActor, stele.FieldTarget, stele.FieldSource, stele.FieldIP:
		for _, col := range BlindColumns(f.Field) {
			for _, t := range f.Tokens {
				arms = append(arms, Arm{col, t})
			}
		}
	case stele.FieldGroup:
		for _, c := range f.Any {
			// The alternative's narrowest filter with branches.
			var best []Arm
			for _, u := range c {
				if a := armsOf(u); a != nil && (best == nil || len(a) < len(best)) {
					best = a
				}
			}
			if best == nil {
				return nil
			}
			arms = append(arms, best...)
		}
	}
	return arms
}

// Keep reports whether the driving filter f stays in the WHERE clause of
// each branch: a group does, since its branches may match rows it does not.
func Keep(f stele.RowFilter) bool { return f.Field == stele.FieldGroup }

// BlindColumns are the columns holding each blind field's tokens. An actor
// matches by id or by email: the caller gives the tokens of both domains
// and either column may hold one.
func BlindColumns(f stele.Field) []string {
	switch f {
	case stele.FieldActor:
		return []string{"actor_tok", "actor_email_tok"}
	case stele.FieldTarget:
		return []string{"target_tok"}
	case stele.FieldSource:
		return []string{"source_tok"}
	case stele.FieldIP:
		return []string{"ip_tok"}
	}
	return nil
}

// PrefixEnd returns the least string greater than every string with prefix
// p: p with its last byte below 0xff incremented and the rest dropped. ok is
// false when there is none (p is empty or all 0xff).
func PrefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// ScanPages is ScanQuery for a store whose Rows already reads a page in one
// statement: it pages through rows, pageSize rows at a time, and calls fn
// with each.
func ScanPages(ctx context.Context, rows func(context.Context, stele.RowQuery) ([]stele.EventRow, error),
	q stele.RowQuery, pageSize int, fn func(*stele.EventRow) error) error {
	q.Limit = pageSize
	for {
		page, err := rows(ctx, q)
		if err != nil {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		if len(page) < q.Limit {
			return nil
		}
		last := page[len(page)-1]
		q.HasBelow, q.BelowTime, q.BelowSeq = true, last.Time, last.Seq
	}
}
