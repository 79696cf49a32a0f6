package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/stele-audit/stele"
)

var _ stele.EventCounter = (*DB)(nil)

// CountByBucket counts the rows matching q's filters and time bounds by
// time bucket and category.
//
// The events table has no index on category, and reading it for every row
// in a month of a busy account costs a table lookup per row. When the
// filters name only actions and categories, the counts come instead from
// the covering (account_id, action, time, seq) index: one range scan per
// distinct action of the account, each reading only index entries in the
// time range; an action's category is the catalog's, or, for a producer's
// own action, the category of its newest event. Other filters take one
// GROUP BY over the matching rows.
func (db *DB) CountByBucket(ctx context.Context, q stele.RowQuery, bucket int64) ([]stele.BucketCount, error) {
	if bucket <= 0 {
		return nil, stele.Errorf(stele.EINVALID, "bucket must be positive")
	}
	if actionOnly(q.Filters) {
		return db.countByAction(ctx, q, bucket)
	}
	b := &rowQuery{}
	b.sql.WriteString(`account_id = ?`)
	b.args = append(b.args, q.AccountID)
	b.bounds(q)
	for _, f := range q.Filters {
		if f.Field == stele.FieldText {
			continue
		}
		b.sql.WriteString(` AND `)
		if cols := blindColumns(f.Field); len(cols) > 1 && !f.Negate && len(f.Tokens) > 0 {
			b.eitherColumn(q.AccountID, cols, f.Tokens)
			continue
		}
		if err := b.filter(f); err != nil {
			return nil, err
		}
	}
	args := append([]any{bucket, bucket}, b.args...)
	rows, err := db.reader.QueryContext(ctx, `SELECT (time / ?) * ? AS b, category, count(*) FROM events WHERE `+
		b.sql.String()+` GROUP BY b, category ORDER BY b, category`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count by bucket: %w", mapErr(err))
	}
	defer rows.Close()
	var out []stele.BucketCount
	for rows.Next() {
		var (
			c    stele.BucketCount
			code int64
		)
		if err := rows.Scan(&c.Start, &code, &c.Count); err != nil {
			return nil, fmt.Errorf("sqlite: count by bucket: %w", err)
		}
		if code >= 0 && code < int64(len(stele.Categories)) {
			c.Category = stele.Categories[code]
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count by bucket: %w", mapErr(err))
	}
	return out, nil
}

func (b *rowQuery) bounds(q stele.RowQuery) {
	if q.After != 0 {
		b.sql.WriteString(` AND time >= ?`)
		b.args = append(b.args, q.After)
	}
	if q.Before != 0 {
		b.sql.WriteString(` AND time < ?`)
		b.args = append(b.args, q.Before)
	}
}

func actionOnly(filters []stele.RowFilter) bool {
	for _, f := range filters {
		if f.Field != stele.FieldAction && f.Field != stele.FieldCategory && f.Field != stele.FieldText {
			return false
		}
	}
	return true
}

// countByAction counts per action from the action index; see CountByBucket.
func (db *DB) countByAction(ctx context.Context, q stele.RowQuery, bucket int64) ([]stele.BucketCount, error) {
	actions, err := db.distinctActions(ctx, q.AccountID)
	if err != nil {
		return nil, err
	}
	sums := map[[2]int64]int64{} // (bucket start, category code) → count
	for _, action := range actions {
		cat, ok := stele.Catalog[action]
		if !ok {
			var code int64
			err := db.reader.QueryRowContext(ctx, `SELECT category FROM events INDEXED BY events_action
				WHERE account_id = ? AND action = ? ORDER BY time DESC LIMIT 1`, q.AccountID, action).Scan(&code)
			if err != nil {
				return nil, fmt.Errorf("sqlite: count by bucket: category of %s: %w", action, mapErr(err))
			}
			if code >= 0 && code < int64(len(stele.Categories)) {
				cat = stele.Categories[code]
			}
		}
		if !keepAction(q.Filters, action, cat) {
			continue
		}
		code := int64(slices.Index(stele.Categories, cat))
		b := &rowQuery{}
		b.sql.WriteString(`account_id = ? AND action = ?`)
		b.args = append(b.args, q.AccountID, action)
		b.bounds(q)
		rows, err := db.reader.QueryContext(ctx, `SELECT (time / ?) * ? AS b, count(*) FROM events INDEXED BY events_action WHERE `+
			b.sql.String()+` GROUP BY b`, append([]any{bucket, bucket}, b.args...)...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: count by bucket: %w", mapErr(err))
		}
		for rows.Next() {
			var start, n int64
			if err := rows.Scan(&start, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: count by bucket: %w", err)
			}
			sums[[2]int64{start, code}] += n
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite: count by bucket: %w", mapErr(err))
		}
	}
	out := make([]stele.BucketCount, 0, len(sums))
	for k, n := range sums {
		c := stele.BucketCount{Start: k[0], Count: n}
		if k[1] >= 0 {
			c.Category = stele.Categories[k[1]]
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b stele.BucketCount) int {
		if a.Start != b.Start {
			return cmp.Compare(a.Start, b.Start)
		}
		return cmp.Compare(slices.Index(stele.Categories, a.Category), slices.Index(stele.Categories, b.Category))
	})
	return out, nil
}

// distinctActions lists an account's actions by seeking the action index
// once per action rather than reading every entry.
func (db *DB) distinctActions(ctx context.Context, accountID int64) ([]string, error) {
	var out []string
	last := ""
	for {
		var a sql.NullString
		err := db.reader.QueryRowContext(ctx, `SELECT min(action) FROM events INDEXED BY events_action
			WHERE account_id = ? AND action > ?`, accountID, last).Scan(&a)
		if err != nil {
			return nil, fmt.Errorf("sqlite: actions: %w", mapErr(err))
		}
		if !a.Valid {
			return out, nil
		}
		out = append(out, a.String)
		last = a.String
	}
}

// keepAction evaluates action and category filters on one action.
func keepAction(filters []stele.RowFilter, action, category string) bool {
	for _, f := range filters {
		var v string
		switch f.Field {
		case stele.FieldAction:
			v = action
		case stele.FieldCategory:
			v = category
		default:
			continue
		}
		hit := slices.Contains(f.Values, v) || slices.ContainsFunc(f.Prefixes, func(p string) bool { return strings.HasPrefix(v, p) })
		if hit == f.Negate {
			return false
		}
	}
	return true
}

// eitherColumn matches rows where any of cols holds any of toks. An OR
// across two columns would make SQLite scan the account; the union of one
// index range per column reads only the matching entries.
func (b *rowQuery) eitherColumn(accountID int64, cols []string, toks []int64) {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = `SELECT account_id, seq FROM events INDEXED BY ` + armIndex[c] + ` WHERE account_id = ? AND ` + c + ` IN (` + marks(len(toks)) + `)`
		b.args = append(b.args, accountID)
		for _, t := range toks {
			b.args = append(b.args, t)
		}
	}
	b.sql.WriteString(`(account_id, seq) IN (` + strings.Join(parts, ` UNION ALL `) + `)`)
}
