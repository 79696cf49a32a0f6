package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/stele-audit/stele"
)

// hourMicros is the rollup's grain.
const hourMicros = int64(3600_000_000)

// rollupChunk bounds the events one catch-up transaction counts, so that
// the writer is never held for long.
const rollupChunk = 50_000

// catchUp counts the account's events not yet in event_counts, by seq.
func (db *DB) catchUp(ctx context.Context, accountID int64) error {
	for {
		done := false
		err := db.write(ctx, func(tx *sql.Tx) error {
			var from int64
			err := tx.QueryRowContext(ctx, `SELECT counted_to FROM event_counts_head WHERE account_id = ?`, accountID).Scan(&from)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			var to sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT max(seq) + 1 FROM events WHERE account_id = ?`, accountID).Scan(&to); err != nil {
				return err
			}
			if !to.Valid || to.Int64 <= from {
				done = true
				return nil
			}
			end := min(to.Int64, from+rollupChunk)
			if _, err := tx.ExecContext(ctx, `INSERT INTO event_counts (account_id, hour, action, category, outcome, n)
				SELECT account_id, (time / ?1) * ?1, action, category, outcome, count(*) FROM events
				WHERE account_id = ?2 AND seq >= ?3 AND seq < ?4
				GROUP BY 2, 3, 4, 5
				ON CONFLICT (account_id, hour, action, category, outcome) DO UPDATE SET n = n + excluded.n`,
				hourMicros, accountID, from, end); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO event_counts_head (account_id, counted_to) VALUES (?, ?)
				ON CONFLICT (account_id) DO UPDATE SET counted_to = excluded.counted_to`, accountID, end); err != nil {
				return err
			}
			done = end == to.Int64
			return nil
		})
		if err != nil {
			return fmt.Errorf("sqlite: count events: %w", mapErr(err))
		}
		if done {
			return nil
		}
	}
}

// rollupOnly reports whether the filters are all on columns the rollup keeps.
func rollupOnly(filters []stele.RowFilter) bool {
	for _, f := range filters {
		switch f.Field {
		case stele.FieldAction, stele.FieldCategory, stele.FieldOutcome, stele.FieldText:
		case stele.FieldGroup:
			if !slices.ContainsFunc(f.Any, func(c []stele.RowFilter) bool { return !rollupOnly(c) }) {
				continue
			}
			return false
		default:
			return false
		}
	}
	return true
}

// countFromRollup answers CountByBucket from event_counts for the whole
// hours of the range and from the events table for the partial hours at its
// edges. Hours before the account's oldest event are left out: a retention
// purge deletes events but not their counts.
func (db *DB) countFromRollup(ctx context.Context, q stele.RowQuery, bucket int64) ([]stele.BucketCount, error) {
	if err := db.catchUp(ctx, q.AccountID); err != nil {
		return nil, err
	}
	var oldest sql.NullInt64
	if err := db.reader.QueryRowContext(ctx, `SELECT min(time) FROM events WHERE account_id = ?`, q.AccountID).Scan(&oldest); err != nil {
		return nil, fmt.Errorf("sqlite: count by bucket: %w", mapErr(err))
	}
	if !oldest.Valid {
		return nil, nil
	}
	lo := max(q.After, oldest.Int64)
	firstFull := ceilDiv(lo, hourMicros) * hourMicros
	var endFull int64 = 1 << 62
	if q.Before != 0 {
		endFull = q.Before / hourMicros * hourMicros
	}
	sums := map[[2]int64]int64{}
	add := func(start int64, cat string, n int64) {
		code := int64(slices.Index(stele.Categories, cat))
		sums[[2]int64{start / bucket * bucket, code}] += n
	}
	if firstFull < endFull {
		rows, err := db.reader.QueryContext(ctx, `SELECT hour, action, category, outcome, n FROM event_counts
			WHERE account_id = ? AND hour >= ? AND hour < ?`, q.AccountID, firstFull, endFull)
		if err != nil {
			return nil, fmt.Errorf("sqlite: count by bucket: %w", mapErr(err))
		}
		for rows.Next() {
			var hour, cat, out, n int64
			var action string
			if err := rows.Scan(&hour, &action, &cat, &out, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: count by bucket: %w", err)
			}
			c, o := name(stele.Categories, cat), name(stele.Outcomes, out)
			if keepRollup(q.Filters, action, c, o) {
				add(hour, c, n)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite: count by bucket: %w", mapErr(err))
		}
	}
	// The partial hours at the edges come from the events themselves.
	edges := [][2]int64{}
	if firstFull >= endFull {
		edges = append(edges, [2]int64{q.After, q.Before})
	} else {
		if q.After < firstFull {
			edges = append(edges, [2]int64{q.After, firstFull})
		}
		if q.Before != 0 && endFull < q.Before {
			edges = append(edges, [2]int64{endFull, q.Before})
		}
	}
	for _, e := range edges {
		eq := q
		eq.After, eq.Before = e[0], e[1]
		if eq.After == 0 {
			eq.After = oldest.Int64
		}
		counts, err := db.countScan(ctx, eq, bucket)
		if err != nil {
			return nil, err
		}
		for _, c := range counts {
			add(c.Start, c.Category, c.Count)
		}
	}
	return sortedCounts(sums), nil
}

// keepRollup evaluates action, category and outcome filters, and groups of
// them, on a rollup row.
func keepRollup(filters []stele.RowFilter, action, category, outcome string) bool {
	for _, f := range filters {
		var v string
		switch f.Field {
		case stele.FieldGroup:
			hit := slices.ContainsFunc(f.Any, func(c []stele.RowFilter) bool { return keepRollup(c, action, category, outcome) })
			if hit == f.Negate {
				return false
			}
			continue
		case stele.FieldAction:
			v = action
		case stele.FieldCategory:
			v = category
		case stele.FieldOutcome:
			v = outcome
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

func name(list []string, code int64) string {
	if code >= 0 && code < int64(len(list)) {
		return list[code]
	}
	return ""
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a > 0 {
		q++
	}
	return q
}
