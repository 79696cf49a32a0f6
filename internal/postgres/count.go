package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
)

var _ stele.EventCounter = (*DB)(nil)

// CountByBucket counts the rows matching q's filters and time bounds by
// time bucket and category, in one GROUP BY; partitions outside the time
// bounds are not read at all.
func (db *DB) CountByBucket(ctx context.Context, q stele.RowQuery, bucket int64) ([]stele.BucketCount, error) {
	if bucket <= 0 {
		return nil, stele.Errorf(stele.EINVALID, "bucket must be positive")
	}
	b := &rowQuery{}
	bp := b.arg(bucket)
	b.sql.WriteString(`account_id = ` + b.arg(q.AccountID))
	b.bounds(q)
	for _, f := range q.Filters {
		if f.Field == stele.FieldText {
			continue
		}
		b.sql.WriteString(` AND `)
		if err := b.filter(f); err != nil {
			return nil, err
		}
	}
	rows, err := db.pool.Query(ctx, `SELECT (time / `+bp+`) * `+bp+` AS b, category, count(*) FROM events WHERE `+
		b.sql.String()+` GROUP BY b, category ORDER BY b, category`, b.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: count by bucket: %w", mapErr(err))
	}
	var (
		out  []stele.BucketCount
		c    stele.BucketCount
		code int16
	)
	_, err = pgx.ForEachRow(rows, []any{&c.Start, &code, &c.Count}, func() error {
		c.Category = ""
		if code >= 0 && int(code) < len(stele.Categories) {
			c.Category = stele.Categories[code]
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: count by bucket: %w", mapErr(err))
	}
	return out, nil
}
