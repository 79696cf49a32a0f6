package sqlite

import (
	"slices"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

// rowQuery builds the WHERE clause of a stele.RowQuery.
type rowQuery struct {
	sql  strings.Builder
	args []any
}

// buildRowQuery returns the SELECT of q: the account's rows in the time
// bounds, below the cursor and matching every filter, newest first. Each
// filter is a condition on the columns of one index, so that SQLite can walk
// (account_id, <column>, time, seq) backwards and stop at the limit.
//
// A filter matching one of several values (an actor's id and email tokens,
// two actions) cannot be read in order from one index range, and SQLite
// would collect and sort every matching row. Such a filter instead drives a
// UNION of one branch per value; SQLite merges the branches, each read in
// index order, lazily by (time, seq) (sorting only rows tied on both, to
// drop duplicates), so a page reads at most limit rows per branch.
func buildRowQuery(q stele.RowQuery) (string, []any, error) {
	return buildRowQueryOf(q, eventColumns)
}

// buildRowQueryOf is buildRowQuery selecting columns.
func buildRowQueryOf(q stele.RowQuery, columns string) (string, []any, error) {
	b := &rowQuery{}
	b.sql.WriteString(`account_id = ?`)
	b.args = append(b.args, q.AccountID)
	if q.After != 0 {
		b.sql.WriteString(` AND time >= ?`)
		b.args = append(b.args, q.After)
	}
	if q.Before != 0 {
		b.sql.WriteString(` AND time < ?`)
		b.args = append(b.args, q.Before)
	}
	if q.HasBelow {
		b.sql.WriteString(` AND (time, seq) < (?, ?)`)
		b.args = append(b.args, q.BelowTime, q.BelowSeq)
	}
	driver, arms := -1, []sqlstore.Arm(nil)
	if q.Limit > 0 {
		driver, arms = sqlstore.PickDriver(q.Filters)
	}
	for i, f := range q.Filters {
		if f.Field == stele.FieldText || (i == driver && !sqlstore.Keep(f)) {
			continue // text is checked on the plaintext, after decryption
		}
		b.sql.WriteString(` AND `)
		if err := b.filter(f); err != nil {
			return "", nil, err
		}
	}
	const order = ` ORDER BY time DESC, seq DESC`
	if driver < 0 {
		query := `SELECT ` + columns + ` FROM events WHERE ` + b.sql.String() + order
		if q.Limit > 0 {
			query += ` LIMIT ?`
			b.args = append(b.args, q.Limit)
		}
		return query, b.args, nil
	}
	where := b.sql.String()
	parts := make([]string, len(arms))
	var args []any
	for i, a := range arms {
		// Each branch names its index: it is the one made for it, and the
		// planner must not trade it for a scan and a sort on odd statistics.
		parts[i] = `SELECT ` + columns + ` FROM events INDEXED BY ` + armIndex[a.Col] + ` WHERE ` + where + ` AND ` + a.Col + ` = ?`
		args = append(args, b.args...)
		args = append(args, a.Val)
	}
	args = append(args, q.Limit)
	return strings.Join(parts, ` UNION `) + order + ` LIMIT ?`, args, nil
}

// armIndex is the index that serves a branch on each column.
var armIndex = map[string]string{
	"action": "events_action", "actor_tok": "events_actor", "actor_email_tok": "events_actor_email",
	"target_tok": "events_target", "source_tok": "events_source", "ip_tok": "events_ip",
}

func (b *rowQuery) filter(f stele.RowFilter) error {
	switch f.Field {
	case stele.FieldAction:
		b.clear("action", f, func(vs []string) []any { return strs(vs) }, nil)
	case stele.FieldCategory:
		b.clear("category", f, func(vs []string) []any { return codes(stele.Categories, vs, false) },
			func(ps []string) []any { return codes(stele.Categories, ps, true) })
	case stele.FieldOutcome:
		b.clear("outcome", f, func(vs []string) []any { return codes(stele.Outcomes, vs, false) },
			func(ps []string) []any { return codes(stele.Outcomes, ps, true) })
	case stele.FieldActor, stele.FieldTarget, stele.FieldSource, stele.FieldIP:
		b.blind(sqlstore.BlindColumns(f.Field), f)
	case stele.FieldGroup:
		return b.group(f)
	default:
		return stele.Errorf(stele.EINVALID, "unknown field %q", f.Field)
	}
	return nil
}

// clear writes the condition on a column kept in the clear (never NULL).
// Action prefixes become index ranges; category and outcome prefixes are
// resolved to the codes they match (prefixCodes), since those columns hold codes.
func (b *rowQuery) clear(col string, f stele.RowFilter, values func([]string) []any, prefixCodes func([]string) []any) {
	var terms []string
	if prefixCodes == nil && len(f.Prefixes) > 0 {
		// A range of actions cannot be read newest first from the action
		// index: SQLite would sort every row in the range to return one
		// page. The unary + keeps it on the time index, filtering as it goes.
		col = "+" + col
	}
	vals := values(f.Values)
	if prefixCodes != nil {
		vals = append(vals, prefixCodes(f.Prefixes)...)
	}
	if len(vals) > 0 {
		terms = append(terms, col+` IN (`+marks(len(vals))+`)`)
		b.args = append(b.args, vals...)
	}
	if prefixCodes == nil {
		for _, p := range f.Prefixes {
			if hi, ok := sqlstore.PrefixEnd(p); ok {
				terms = append(terms, `(`+col+` >= ? AND `+col+` < ?)`)
				b.args = append(b.args, p, hi)
			} else {
				terms = append(terms, col+` >= ?`)
				b.args = append(b.args, p)
			}
		}
	}
	cond := "0"
	if len(terms) > 0 {
		cond = `(` + strings.Join(terms, ` OR `) + `)`
	}
	if f.Negate {
		cond = `NOT ` + cond
	}
	b.sql.WriteString(cond)
}

// blind writes the condition on blind-index columns. The row matches when
// any column holds any token. Negated, NULL columns (the field is absent)
// count as not matching, so the row is kept.
func (b *rowQuery) blind(cols []string, f stele.RowFilter) {
	if len(f.Tokens) == 0 {
		b.sql.WriteString(map[bool]string{false: "0", true: "1"}[f.Negate])
		return
	}
	toks := make([]any, len(f.Tokens))
	for i, t := range f.Tokens {
		toks[i] = t
	}
	in := ` IN (` + marks(len(toks)) + `)`
	terms := make([]string, len(cols))
	for i, c := range cols {
		if f.Negate {
			terms[i] = `(` + c + ` IS NULL OR ` + c + ` NOT` + in + `)`
		} else {
			terms[i] = c + in
		}
		b.args = append(b.args, toks...)
	}
	if f.Negate {
		b.sql.WriteString(`(` + strings.Join(terms, ` AND `) + `)`)
	} else {
		b.sql.WriteString(`(` + strings.Join(terms, ` OR `) + `)`)
	}
}

// codes returns the stored codes (indexes in list) of the names in vs, or of
// the names starting with one of vs when prefix is set. Unknown names match
// nothing.
func codes(list, vs []string, prefix bool) []any {
	var out []any
	for i, name := range list {
		match := slices.ContainsFunc(vs, func(v string) bool {
			if prefix {
				return strings.HasPrefix(name, v)
			}
			return name == v
		})
		if match {
			out = append(out, int64(i))
		}
	}
	return out
}

func strs(vs []string) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

func marks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// group writes the condition of a group: an OR of ANDs, or, negated, an AND
// of ORs of the negated filters (De Morgan), so that each filter is written
// in its own negated form, which keeps rows whose blind columns are NULL.
func (b *rowQuery) group(f stele.RowFilter) error {
	outer, inner := ` OR `, ` AND `
	if f.Negate {
		outer, inner = inner, outer
	}
	if len(f.Any) == 0 {
		b.sql.WriteString(map[bool]string{false: "0", true: "1"}[f.Negate])
		return nil
	}
	b.sql.WriteString(`(`)
	for i, c := range f.Any {
		if i > 0 {
			b.sql.WriteString(outer)
		}
		b.sql.WriteString(`(`)
		if len(c) == 0 {
			b.sql.WriteString(map[bool]string{false: "1", true: "0"}[f.Negate])
		}
		for j, u := range c {
			if j > 0 {
				b.sql.WriteString(inner)
			}
			u.Negate = u.Negate != f.Negate
			if err := b.filter(u); err != nil {
				return err
			}
		}
		b.sql.WriteString(`)`)
	}
	b.sql.WriteString(`)`)
	return nil
}
