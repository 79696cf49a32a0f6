package sqlite

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/stele-audit/stele"
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

// countByBlind reads the events matching filter i, a positive blind filter,
// one index range per column it may be in, and counts them here. An event
// matching in two columns (an actor's id and email) is counted once.
func (db *DB) countByBlind(ctx context.Context, q stele.RowQuery, i int, bucket int64) ([]stele.BucketCount, error) {
	f := q.Filters[i]
	seen := map[int64]bool{}
	sums := map[[2]int64]int64{}
	for _, col := range blindColumns(f.Field) {
		b := &rowQuery{}
		if err := b.where(q, i); err != nil {
			return nil, err
		}
		b.sql.WriteString(` AND ` + col + ` IN (` + marks(len(f.Tokens)) + `)`)
		for _, t := range f.Tokens {
			b.args = append(b.args, t)
		}
		rows, err := db.reader.QueryContext(ctx, `SELECT seq, time, category FROM events INDEXED BY `+armIndex[col]+` WHERE `+b.sql.String(), b.args...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: count by bucket: %w", mapErr(err))
		}
		for rows.Next() {
			var seq, t, cat int64
			if err := rows.Scan(&seq, &t, &cat); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: count by bucket: %w", err)
			}
			if seen[seq] {
				continue
			}
			seen[seq] = true
			sums[[2]int64{floorDiv(t, bucket) * bucket, cat}]++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite: count by bucket: %w", mapErr(err))
		}
	}
	return sortedCounts(sums), nil
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

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
