package sqlite

import (
	"slices"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

// bools are SQLite's literals.
var bools = sqlstore.Bools{True: "1", False: "0"}

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
	arms, err := sqlstore.WriteFilters(&b.sql, q, b.filter)
	if err != nil {
		return "", nil, err
	}
	const order = ` ORDER BY time DESC, seq DESC`
	if arms == nil {
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
		return sqlstore.WriteGroup(&b.sql, f, bools, b.filter)
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
	b.sql.WriteString(bools.AnyOf(terms, f.Negate))
}

// blind writes the condition on blind-index columns
// (sqlstore.BlindCondition), the tokens bound again for each column.
func (b *rowQuery) blind(cols []string, f stele.RowFilter) {
	if len(f.Tokens) == 0 {
		b.sql.WriteString(bools.Of(f.Negate))
		return
	}
	toks := make([]any, len(f.Tokens))
	for i, t := range f.Tokens {
		toks[i] = t
	}
	in := ` IN (` + marks(len(toks)) + `)`
	b.sql.WriteString(sqlstore.BlindCondition(cols, f.Negate, func(c string) string {
		b.args = append(b.args, toks...)
		if f.Negate {
			return c + ` NOT` + in
		}
		return c + in
	}))
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
