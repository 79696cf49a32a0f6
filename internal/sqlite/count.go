package sqlite

import (
	"context"
	"fmt"

	"github.com/stele-audit/stele"
)

var _ stele.EventCounter = (*DB)(nil)

// CountByBucket counts the rows matching q's filters and time bounds by
// time bucket and category, in one GROUP BY. Without a category filter the
// query names every category code, so that SQLite can read the covering
// (account_id, category, time, seq) index range by range instead of the table.
func (db *DB) CountByBucket(ctx context.Context, q stele.RowQuery, bucket int64) ([]stele.BucketCount, error) {
	if bucket <= 0 {
		return nil, stele.Errorf(stele.EINVALID, "bucket must be positive")
	}
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
	hasCategory := false
	for _, f := range q.Filters {
		if f.Field == stele.FieldText {
			continue
		}
		if f.Field == stele.FieldCategory && !f.Negate {
			hasCategory = true
		}
		b.sql.WriteString(` AND `)
		if err := b.filter(f); err != nil {
			return nil, err
		}
	}
	if !hasCategory {
		all := make([]any, len(stele.Categories))
		for i := range all {
			all[i] = int64(i)
		}
		b.sql.WriteString(` AND category IN (` + marks(len(all)) + `)`)
		b.args = append(b.args, all...)
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
