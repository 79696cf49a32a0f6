package sqlite

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

var _ stele.EventCounter = (*DB)(nil)

// CountByBucket counts the rows matching q's filters and time bounds by
// time bucket and category. It picks the cheapest of three ways:
//
//   - filters on action, category and outcome only (the default view, and
//     the activity-type and outcome filters): the event_counts rollup,
//     brought up to date by seq first, plus the partial hours at the edges
//     of the range read from the events;
//   - a filter on a blind field (actor, target, source, ip): that field's
//     index ranges, reading only the matching events;
//   - anything else: one GROUP BY over the matching events.
func (db *DB) CountByBucket(ctx context.Context, q stele.RowQuery, bucket int64) ([]stele.BucketCount, error) {
	if bucket <= 0 {
		return nil, stele.Errorf(stele.EINVALID, "bucket must be positive")
	}
	if rollupOnly(q.Filters) && bucket%hourMicros == 0 {
		return db.countFromRollup(ctx, q, bucket)
	}
	for i, f := range q.Filters {
		if f.Field.Blind() && !f.Negate && len(f.Tokens) > 0 {
			return db.countByBlind(ctx, q, i, bucket)
		}
	}
	return db.countScan(ctx, q, bucket)
}

// where writes the account, time bounds and every filter but skip and text.
func (b *rowQuery) where(q stele.RowQuery, skip int) error {
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
	for i, f := range q.Filters {
		if f.Field == stele.FieldText || i == skip {
			continue
		}
		b.sql.WriteString(` AND `)
		if err := b.filter(f); err != nil {
			return err
		}
	}
	return nil
}

// countScan groups the matching events in SQL.
func (db *DB) countScan(ctx context.Context, q stele.RowQuery, bucket int64) ([]stele.BucketCount, error) {
	b := &rowQuery{}
	if err := b.where(q, -1); err != nil {
		return nil, err
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
		c.Category = name(stele.Categories, code)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count by bucket: %w", mapErr(err))
	}
	return out, nil
}

// countByBlind counts the events matching filter i, a positive blind
// filter, from the index of each column the field may be in, grouped in
// SQL. The actor indexes hold the category, so that an actor's counts read
// no table rows (other filters on the query may still need them). An event
// matching in two columns (an actor's id and email) is counted once: when
// both columns match events, those matching in both are subtracted.
func (db *DB) countByBlind(ctx context.Context, q stele.RowQuery, i int, bucket int64) ([]stele.BucketCount, error) {
	f := q.Filters[i]
	cols := sqlstore.BlindColumns(f.Field)
	sums := map[[2]int64]int64{}
	hits := 0
	for _, col := range cols {
		b := &rowQuery{}
		if err := b.where(q, i); err != nil {
			return nil, err
		}
		b.tokens(col, f.Tokens)
		n, err := db.groupCounts(ctx, `FROM events INDEXED BY `+armIndex[col]+` WHERE `+b.sql.String(), b.args, bucket, sums, 1)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			hits++
		}
	}
	if hits == 2 {
		// Both columns matched: take off the events matching in both.
		b := &rowQuery{}
		if err := b.where(q, i); err != nil {
			return nil, err
		}
		b.tokens(cols[0], f.Tokens)
		b.sql.WriteString(` AND seq IN (SELECT seq FROM events INDEXED BY ` + armIndex[cols[1]] + ` WHERE account_id = ?`)
		b.args = append(b.args, q.AccountID)
		b.tokens(cols[1], f.Tokens)
		b.sql.WriteString(`)`)
		if _, err := db.groupCounts(ctx, `FROM events INDEXED BY `+armIndex[cols[0]]+` WHERE `+b.sql.String(), b.args, bucket, sums, -1); err != nil {
			return nil, err
		}
	}
	for k, n := range sums {
		if n == 0 {
			delete(sums, k)
		}
	}
	return sortedCounts(sums), nil
}

// tokens adds the condition that col holds one of tokens.
func (b *rowQuery) tokens(col string, tokens []int64) {
	b.sql.WriteString(` AND ` + col + ` IN (` + marks(len(tokens)) + `)`)
	for _, t := range tokens {
		b.args = append(b.args, t)
	}
}

// countSelect selects the bucket's start (floored for times before 1970
// too: the bucket size is its three parameters), category and count.
const countSelect = `SELECT time - ((time % ?) + ?) % ?, category, count(*) `

// groupCounts adds sign times the counts of from (a FROM and WHERE clause
// with args) by bucket and category to sums, and returns how many events
// it counted.
func (db *DB) groupCounts(ctx context.Context, from string, args []any, bucket int64, sums map[[2]int64]int64, sign int64) (int64, error) {
	rows, err := db.reader.QueryContext(ctx, countSelect+from+` GROUP BY 1, 2`, append([]any{bucket, bucket, bucket}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count by bucket: %w", mapErr(err))
	}
	defer rows.Close()
	var total int64
	for rows.Next() {
		var start, cat, n int64
		if err := rows.Scan(&start, &cat, &n); err != nil {
			return 0, fmt.Errorf("sqlite: count by bucket: %w", err)
		}
		sums[[2]int64{start, cat}] += sign * n
		total += n
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sqlite: count by bucket: %w", mapErr(err))
	}
	return total, nil
}

// sortedCounts turns (bucket start, category code) sums into counts in
// bucket and category order.
func sortedCounts(sums map[[2]int64]int64) []stele.BucketCount {
	out := make([]stele.BucketCount, 0, len(sums))
	for k, n := range sums {
		out = append(out, stele.BucketCount{Start: k[0], Category: name(stele.Categories, k[1]), Count: n})
	}
	slices.SortFunc(out, func(a, b stele.BucketCount) int {
		if a.Start != b.Start {
			return cmp.Compare(a.Start, b.Start)
		}
		return cmp.Compare(slices.Index(stele.Categories, a.Category), slices.Index(stele.Categories, b.Category))
	})
	return out
}
