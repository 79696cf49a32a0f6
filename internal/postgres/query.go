package postgres

import (
	"slices"
	"strconv"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

// bools are PostgreSQL's literals.
var bools = sqlstore.Bools{True: "true", False: "false"}

// rowQuery builds the WHERE clause of a stele.RowQuery with numbered
// parameters; a parameter may be referenced more than once.
type rowQuery struct {
	sql  strings.Builder
	args []any
}

// arg adds v and returns its placeholder.
func (b *rowQuery) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// buildRowQuery returns the SELECT of q: the account's rows in the time
// bounds, below the cursor and matching every filter, newest first. Every
// filtered column has an index (account_id, column, time, seq), so that
// PostgreSQL can walk it backwards in each partition, take the partitions
// newest first, and stop at the limit.
//
// The limit is written into the text, not bound: the statement's plan is
// made once per connection and kept (see plan_cache_mode in Open), and a
// plan made for an unknown limit would expect to read a tenth of the rows.
//
// A filter matching one of several values (an actor's id and email tokens,
// two actions) cannot be read in order from one index range: with
// `= ANY(…)` PostgreSQL 15 would collect and sort every matching row. Such a
// filter instead drives a UNION ALL of one branch per value, each read in
// index order up to the limit; the outer query merges them, drops the rows
// two branches share, and keeps the limit. This is sqlite/query.go's plan.
func buildRowQuery(q stele.RowQuery) (string, []any, error) {
	b := &rowQuery{}
	b.sql.WriteString(`account_id = ` + b.arg(q.AccountID))
	b.bounds(q)
	if q.HasBelow {
		b.sql.WriteString(` AND (time, seq) < (` + b.arg(q.BelowTime) + `, ` + b.arg(q.BelowSeq) + `)`)
	}
	arms, err := sqlstore.WriteFilters(&b.sql, q, b.filter)
	if err != nil {
		return "", nil, err
	}
	const order = ` ORDER BY time DESC, seq DESC`
	if arms == nil {
		query := `SELECT ` + eventColumns + ` FROM events WHERE ` + b.sql.String() + order
		if q.Limit > 0 {
			query += ` LIMIT ` + strconv.Itoa(q.Limit)
		}
		return query, b.args, nil
	}
	where := b.sql.String()
	limit := strconv.Itoa(q.Limit)
	parts := make([]string, len(arms))
	for i, a := range arms {
		parts[i] = `(SELECT ` + eventColumns + ` FROM events WHERE ` + where + ` AND ` + a.Col + ` = ` + b.arg(a.Val) + order + ` LIMIT ` + limit + `)`
	}
	query := `SELECT DISTINCT ON (time, seq) ` + eventColumns + ` FROM (` + strings.Join(parts, ` UNION ALL `) + `) arms` + order + ` LIMIT ` + limit
	return query, b.args, nil
}

func (b *rowQuery) bounds(q stele.RowQuery) {
	if q.After != 0 {
		b.sql.WriteString(` AND time >= ` + b.arg(q.After))
	}
	if q.Before != 0 {
		b.sql.WriteString(` AND time < ` + b.arg(q.Before))
	}
}

func (b *rowQuery) filter(f stele.RowFilter) error {
	switch f.Field {
	case stele.FieldAction:
		b.action(f)
	case stele.FieldCategory:
		b.codes("category", stele.Categories, f)
	case stele.FieldOutcome:
		b.codes("outcome", stele.Outcomes, f)
	case stele.FieldActor, stele.FieldTarget, stele.FieldSource, stele.FieldIP:
		b.blind(sqlstore.BlindColumns(f.Field), f)
	case stele.FieldGroup:
		return sqlstore.WriteGroup(&b.sql, f, bools, b.filter)
	default:
		return stele.Errorf(stele.EINVALID, "unknown field %q", f.Field)
	}
	return nil
}

// action writes the condition on the action column: exact values, and
// prefixes.
//
// A prefix's actions cannot be read newest first from the action index,
// and the plan kept for a prefix query is made without seeing the prefix:
// written as a range, any prefix looked like a few rows, and the plan read
// them all from the action index and sorted them (for finding.*, a third
// of the events, to return one page). Inside a CASE the test is
// opaque to the planner: no index serves it and it is taken to match a
// good share of rows, so PostgreSQL walks the time index and checks each
// row as it goes, stopping at the limit, as SQLite does (sqlite/query.go's
// unary +).
func (b *rowQuery) action(f stele.RowFilter) {
	var terms []string
	switch len(f.Values) {
	case 0:
	case 1:
		// A plain equality, not = ANY, keeps the action index ordered.
		terms = append(terms, `action = `+b.arg(f.Values[0]))
	default:
		terms = append(terms, `action = ANY(`+b.arg(f.Values)+`::text[])`)
	}
	for _, p := range f.Prefixes {
		// Byte-wise: the column is COLLATE "C".
		terms = append(terms, `CASE WHEN starts_with(action, `+b.arg(p)+`) THEN true ELSE false END`)
	}
	b.sql.WriteString(bools.AnyOf(terms, f.Negate))
}

// codes writes the condition on a column of codes (category, outcome):
// values and prefixes are resolved to the codes of the names they match.
func (b *rowQuery) codes(col string, names []string, f stele.RowFilter) {
	var list []string
	for i, name := range names {
		hit := slices.Contains(f.Values, name) || slices.ContainsFunc(f.Prefixes, func(p string) bool { return strings.HasPrefix(name, p) })
		if hit {
			list = append(list, strconv.Itoa(i))
		}
	}
	var terms []string
	if len(list) > 0 {
		terms = append(terms, col+` IN (`+strings.Join(list, ",")+`)`)
	}
	b.sql.WriteString(bools.AnyOf(terms, f.Negate))
}

// blind writes the condition on blind-index columns
// (sqlstore.BlindCondition), the tokens one parameter used by every column.
func (b *rowQuery) blind(cols []string, f stele.RowFilter) {
	if len(f.Tokens) == 0 {
		b.sql.WriteString(bools.Of(f.Negate))
		return
	}
	var p string
	if len(f.Tokens) == 1 {
		p = b.arg(f.Tokens[0])
	} else {
		p = `ANY(` + b.arg(f.Tokens) + `::bigint[])`
	}
	b.sql.WriteString(sqlstore.BlindCondition(cols, f.Negate, func(c string) string {
		if f.Negate {
			return `NOT ` + c + ` = ` + p
		}
		return c + ` = ` + p
	}))
}
