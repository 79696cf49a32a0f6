package sqlstore

import (
	"strings"

	"github.com/stele-audit/stele"
)

// The parts of a WHERE clause's filters whose logic is the same in both
// dialects: which filters it holds, a group's ANDs and ORs, and the NULLs
// of blind-index columns. The store writes each filter's own condition.

// Bools are a dialect's literals for true and false.
type Bools struct{ True, False string }

// Of returns v's literal.
func (b Bools) Of(v bool) string {
	if v {
		return b.True
	}
	return b.False
}

// AnyOf is the OR of terms, false when there is none, negated when asked
// (for columns that are never NULL, where NOT is exact).
func (b Bools) AnyOf(terms []string, negate bool) string {
	cond := b.False
	if len(terms) > 0 {
		cond = `(` + strings.Join(terms, ` OR `) + `)`
	}
	if negate {
		cond = `NOT ` + cond
	}
	return cond
}

// WriteFilters writes " AND " and the condition of each filter of q the
// WHERE clause holds, with filter, and returns the branches of the union
// that q's driver makes (PickDriver), nil for none. A query without a limit
// has no driver: it reads every row anyway. The clause holds every filter
// but free text, which is checked on the plaintext after decryption, and
// the driver, whose branches apply it already, unless Keep.
func WriteFilters(sql *strings.Builder, q stele.RowQuery, filter func(stele.RowFilter) error) ([]Arm, error) {
	driver, arms := -1, []Arm(nil)
	if q.Limit > 0 {
		driver, arms = PickDriver(q.Filters)
	}
	for i, f := range q.Filters {
		if f.Field == stele.FieldText || (i == driver && !Keep(f)) {
			continue
		}
		sql.WriteString(` AND `)
		if err := filter(f); err != nil {
			return nil, err
		}
	}
	return arms, nil
}

// WriteGroup writes the condition of a group: an OR of ANDs, or, negated,
// an AND of ORs of the negated filters (De Morgan), so that each filter is
// written with filter in its own negated form, which keeps rows whose blind
// columns are NULL.
func WriteGroup(sql *strings.Builder, f stele.RowFilter, bools Bools, filter func(stele.RowFilter) error) error {
	outer, inner := ` OR `, ` AND `
	if f.Negate {
		outer, inner = inner, outer
	}
	if len(f.Any) == 0 {
		sql.WriteString(bools.Of(f.Negate))
		return nil
	}
	sql.WriteString(`(`)
	for i, c := range f.Any {
		if i > 0 {
			sql.WriteString(outer)
		}
		sql.WriteString(`(`)
		if len(c) == 0 {
			sql.WriteString(bools.Of(!f.Negate))
		}
		for j, u := range c {
			if j > 0 {
				sql.WriteString(inner)
			}
			u.Negate = u.Negate != f.Negate
			if err := filter(u); err != nil {
				return err
			}
		}
		sql.WriteString(`)`)
	}
	sql.WriteString(`)`)
	return nil
}

// BlindCondition is the condition on blind-index columns: the row matches
// when any column holds any token, term(col) being that test of one column
// (its negation when negate). Negated, NULL columns (the field is absent)
// count as not matching, so the row is kept. term is called once per
// column, in order.
func BlindCondition(cols []string, negate bool, term func(col string) string) string {
	terms := make([]string, len(cols))
	for i, c := range cols {
		if negate {
			terms[i] = `(` + c + ` IS NULL OR ` + term(c) + `)`
		} else {
			terms[i] = term(c)
		}
	}
	if negate {
		return `(` + strings.Join(terms, ` AND `) + `)`
	}
	return `(` + strings.Join(terms, ` OR `) + `)`
}
