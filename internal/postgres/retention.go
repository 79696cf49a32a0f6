package postgres

import (
	"context"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
)

var _ stele.RetentionStore = (*DB)(nil)

// purgeLockClass is the first key of the per-account advisory lock that
// serialises purges of one account (the second is the account id).
const purgeLockClass = int32(0x53745075) // "StPu"

// PurgeExpired deletes up to limit of the account's oldest events whose
// times are all before cutoff (and seqs below below), in one transaction
// that also stores stmt.
// Purgers of one account take turns on an advisory lock; appends only add
// newer seqs, so the run found is the run deleted. The DELETE names the
// run's time range too, so that only the partitions holding it are read.
func (db *DB) PurgeExpired(ctx context.Context, accountID, cutoff, below int64, limit int, stmt *stele.Purge) (stele.PurgeBatch, error) {
	var b stele.PurgeBatch
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, purgeLockClass, int32(accountID)); err != nil {
			return fmt.Errorf("postgres: purge lock: %w", mapErr(err))
		}
		var err error
		if b, err = expiredPrefix(ctx, tx, accountID, cutoff, 0, below, limit); err != nil || b.Deleted == 0 {
			return err
		}
		if err := stele.CheckPurgeStatement(stmt, accountID, b); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM events WHERE account_id = $1 AND seq >= $2 AND seq < $3 AND time >= $4 AND time <= $5`,
			accountID, b.FromSeq, b.BelowSeq, b.OldestTime, b.NewestTime)
		if err != nil {
			return fmt.Errorf("postgres: purge events: %w", mapErr(err))
		}
		if n := tag.RowsAffected(); n != b.Deleted {
			return fmt.Errorf("postgres: purge events: deleted %d rows, expected %d", n, b.Deleted)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM idempotency WHERE account_id = $1 AND seq < $2`, accountID, b.BelowSeq); err != nil {
			return fmt.Errorf("postgres: purge idempotency: %w", mapErr(err))
		}
		if stmt == nil {
			return nil
		}
		return insertPurge(ctx, tx, stmt)
	})
	if err != nil {
		return stele.PurgeBatch{}, err
	}
	return b, nil
}

// ExpiredPrefix reports what PurgeExpired would delete if the events below
// seq from were already gone; it only reads.
func (db *DB) ExpiredPrefix(ctx context.Context, accountID, cutoff, from int64, limit int) (stele.PurgeBatch, error) {
	return expiredPrefix(ctx, db.pool, accountID, cutoff, from, math.MaxInt64, limit)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func expiredPrefix(ctx context.Context, q querier, accountID, cutoff, from, below int64, limit int) (stele.PurgeBatch, error) {
	var b stele.PurgeBatch
	if limit <= 0 {
		return b, stele.Errorf(stele.EINVALID, "purge limit must be positive")
	}
	rows, err := q.Query(ctx, `SELECT seq, time FROM events WHERE account_id = $1 AND seq >= $2 AND seq < $3 ORDER BY seq LIMIT $4`,
		accountID, from, below, limit)
	if err != nil {
		return b, fmt.Errorf("postgres: expired events: %w", mapErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		var seq, t int64
		if err := rows.Scan(&seq, &t); err != nil {
			return b, fmt.Errorf("postgres: expired events: %w", err)
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
		return b, fmt.Errorf("postgres: expired events: %w", mapErr(err))
	}
	return b, nil
}
