package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/stele-audit/stele"
)

var _ stele.RetentionStore = (*DB)(nil)

// querier is what a *sql.DB and a *sql.Tx share for reads.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// PurgeExpired deletes up to limit of the account's oldest events whose
// times are all before cutoff, in one transaction on the writer, and stores
// stmt with them. The run is found and deleted in the same transaction, so
// concurrent appends (which only add newer seqs) and other purgers cannot
// make it delete anything else.
func (db *DB) PurgeExpired(ctx context.Context, accountID, cutoff, below int64, limit int, stmt *stele.Purge) (stele.PurgeBatch, error) {
	var b stele.PurgeBatch
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		if b, err = expiredPrefix(ctx, tx, accountID, cutoff, 0, below, limit); err != nil || b.Deleted == 0 {
			return err
		}
		if err := stele.CheckPurgeStatement(stmt, accountID, b); err != nil {
			return err
		}
		if err := uncount(ctx, tx, accountID, b.FromSeq, b.BelowSeq); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE account_id = ? AND seq >= ? AND seq < ?`, accountID, b.FromSeq, b.BelowSeq)
		if err != nil {
			return fmt.Errorf("sqlite: purge events: %w", mapErr(err))
		}
		if n, err := res.RowsAffected(); err != nil || n != b.Deleted {
			return fmt.Errorf("sqlite: purge events: deleted %d rows, expected %d (%v)", n, b.Deleted, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency WHERE account_id = ? AND seq < ?`, accountID, b.BelowSeq); err != nil {
			return fmt.Errorf("sqlite: purge idempotency: %w", mapErr(err))
		}
		if stmt == nil {
			return nil
		}
		return insertPurge(ctx, tx, stmt)
	})
	if err != nil {
		return stele.PurgeBatch{}, err
	}
	if b.Deleted > 0 {
		// A purge dirties pages all over the indexes. Checkpoint them now,
		// as part of the purge's own cost (which its caller paces itself
		// by), rather than in whichever ingest commit next crosses the
		// autocheckpoint threshold. PASSIVE never waits for readers.
		if _, err := db.writer.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
			return b, fmt.Errorf("sqlite: checkpoint after purge: %w", mapErr(err))
		}
	}
	return b, nil
}

// ExpiredPrefix reports what PurgeExpired would delete if the events below
// seq from were already gone; it only reads.
func (db *DB) ExpiredPrefix(ctx context.Context, accountID, cutoff, from int64, limit int) (stele.PurgeBatch, error) {
	return expiredPrefix(ctx, db.reader, accountID, cutoff, from, math.MaxInt64, limit)
}

func expiredPrefix(ctx context.Context, q querier, accountID, cutoff, from, below int64, limit int) (stele.PurgeBatch, error) {
	var b stele.PurgeBatch
	if limit <= 0 {
		return b, stele.Errorf(stele.EINVALID, "purge limit must be positive")
	}
	rows, err := q.QueryContext(ctx, `SELECT seq, time FROM events WHERE account_id = ? AND seq >= ? AND seq < ? ORDER BY seq LIMIT ?`, accountID, from, below, limit)
	if err != nil {
		return b, fmt.Errorf("sqlite: expired events: %w", mapErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		var seq, t int64
		if err := rows.Scan(&seq, &t); err != nil {
			return b, fmt.Errorf("sqlite: expired events: %w", err)
		}
		if t >= cutoff {
			break
		}
		if b.Deleted == 0 {
			b.FromSeq, b.OldestTime, b.NewestTime = seq, t, t
		}
		b.Deleted++
		b.BelowSeq = seq + 1
		b.OldestTime, b.NewestTime = min(b.OldestTime, t), max(b.NewestTime, t)
	}
	if err := rows.Err(); err != nil {
		return b, fmt.Errorf("sqlite: expired events: %w", mapErr(err))
	}
	return b, nil
}

// uncount takes the events of seqs [from, below) that the chart's hourly
// rollup has counted out of it, in the purge's own transaction: once the
// events are gone, so is every trace of them, counts included.
func uncount(ctx context.Context, tx *sql.Tx, accountID, from, below int64) error {
	var counted int64
	err := tx.QueryRowContext(ctx, `SELECT counted_to FROM event_counts_head WHERE account_id = ?`, accountID).Scan(&counted)
	if errors.Is(err, sql.ErrNoRows) || err == nil && counted <= from {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: purge counts: %w", mapErr(err))
	}
	if _, err := tx.ExecContext(ctx, `UPDATE event_counts SET n = n - d.c FROM (
			SELECT (time / ?1) * ?1 AS hour, action, category, outcome, count(*) AS c FROM events
			WHERE account_id = ?2 AND seq >= ?3 AND seq < ?4 GROUP BY 1, 2, 3, 4) AS d
		WHERE event_counts.account_id = ?2 AND event_counts.hour = d.hour AND event_counts.action = d.action
			AND event_counts.category = d.category AND event_counts.outcome = d.outcome`,
		hourMicros, accountID, from, min(below, counted)); err != nil {
		return fmt.Errorf("sqlite: purge counts: %w", mapErr(err))
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM event_counts WHERE account_id = ? AND n <= 0`, accountID); err != nil {
		return fmt.Errorf("sqlite: purge counts: %w", mapErr(err))
	}
	return nil
}
