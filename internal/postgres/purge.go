package postgres

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

var _ stele.RetentionStore = (*DB)(nil)

// purgeLockClass is the first key of the per-account advisory lock that
// serialises purges of one account (the second is the account id).
const purgeLockClass = int32(0x53745075) // "StPu"

// ExpiredEvents returns up to limit of the account's events whose time is
// before cutoff, oldest first, read from the time index wherever their
// seqs lie (and from the partitions before the cutoff only).
func (db *DB) ExpiredEvents(ctx context.Context, accountID, cutoff int64, after *stele.PurgedEvent, limit int) ([]stele.PurgedEvent, error) {
	if limit <= 0 {
		return nil, stele.Errorf(stele.EINVALID, "purge limit must be positive")
	}
	from := [2]int64{math.MinInt64, math.MinInt64}
	if after != nil {
		from = [2]int64{after.Time, after.Seq}
	}
	rows, err := db.pool.Query(ctx, `SELECT seq, time, leaf_hash FROM events WHERE account_id = $1 AND time < $2 AND (time, seq) > ($3, $4)
		ORDER BY time, seq LIMIT $5`, accountID, cutoff, from[0], from[1], limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: expired events: %w", mapErr(err))
	}
	out, err := scanPurged(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: expired events: %w", err)
	}
	return out, nil
}

// PurgeEvents deletes the batch's events and keeps their leaves, in one
// transaction that also stores the statement; see stele.RetentionStore.
// Purgers of one account take turns on an advisory lock. The DELETE names the batch's time range too, so that only the
// partitions holding it are read.
func (db *DB) PurgeEvents(ctx context.Context, accountID, cutoff int64, batch []stele.PurgedEvent, stmt *stele.PurgeStatement) error {
	if len(batch) == 0 {
		return nil
	}
	seqs := make([]int64, len(batch))
	lo, hi := batch[0].Time, batch[0].Time
	for i, e := range batch {
		seqs[i] = e.Seq
		lo, hi = min(lo, e.Time), max(hi, e.Time)
	}
	return db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, purgeLockClass, int32(accountID)); err != nil {
			return fmt.Errorf("postgres: purge lock: %w", mapErr(err))
		}
		rows, err := tx.Query(ctx, `DELETE FROM events WHERE account_id = $1 AND seq = ANY($2) AND time >= $3 AND time <= $4
			RETURNING seq, time, leaf_hash`, accountID, seqs, lo, hi)
		if err != nil {
			return fmt.Errorf("postgres: purge events: %w", mapErr(err))
		}
		deleted, err := scanPurged(rows)
		if err != nil {
			return fmt.Errorf("postgres: purge events: %w", err)
		}
		slices.SortFunc(deleted, func(a, b stele.PurgedEvent) int { return cmp.Compare(a.Seq, b.Seq) })
		if err := stele.CheckPurgeBatch(accountID, cutoff, batch, deleted, stmt); err != nil {
			return err
		}
		times := make([]int64, len(deleted))
		hashes := make([][]byte, len(deleted))
		for i := range deleted {
			seqs[i], times[i], hashes[i] = deleted[i].Seq, deleted[i].Time, deleted[i].LeafHash[:]
		}
		if _, err := tx.Exec(ctx, `INSERT INTO purged_events (account_id, seq, time, leaf_hash)
			SELECT $1, s, t, h FROM unnest($2::bigint[], $3::bigint[], $4::bytea[]) AS u(s, t, h)`, accountID, seqs, times, hashes); err != nil {
			return fmt.Errorf("postgres: keep purged leaves: %w", mapErr(err))
		}
		if _, err := tx.Exec(ctx, `DELETE FROM idempotency WHERE account_id = $1 AND seq = ANY($2)`, accountID, seqs); err != nil {
			return fmt.Errorf("postgres: purge idempotency: %w", mapErr(err))
		}
		if stmt == nil {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO purge_statements (account_id, first_seq, note, created_at) VALUES ($1, $2, $3, $4)`,
			accountID, stmt.First, sqlstore.NonNilBytes(stmt.Note), stmt.CreatedAt.UnixMicro()); err != nil {
			return fmt.Errorf("postgres: add purge statement: %w", mapErr(err))
		}
		return nil
	})
}

// PurgedEvents returns up to limit of the account's purged events with seq
// >= from, by seq.
func (db *DB) PurgedEvents(ctx context.Context, accountID, from int64, limit int) ([]stele.PurgedEvent, error) {
	rows, err := db.pool.Query(ctx, `SELECT seq, time, leaf_hash FROM purged_events WHERE account_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3`,
		accountID, from, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: purged events: %w", mapErr(err))
	}
	out, err := scanPurged(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: purged events: %w", err)
	}
	return out, nil
}

// PurgeStatements returns the account's set purge statements by first seq.
func (db *DB) PurgeStatements(ctx context.Context, accountID int64) ([]*stele.PurgeStatement, error) {
	rows, err := db.pool.Query(ctx, `SELECT first_seq, note, created_at FROM purge_statements WHERE account_id = $1 ORDER BY first_seq`, accountID)
	if err != nil {
		return nil, fmt.Errorf("postgres: purge statements: %w", mapErr(err))
	}
	var out []*stele.PurgeStatement
	var (
		first, created int64
		note           []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&first, &note, &created}, func() error {
		out = append(out, &stele.PurgeStatement{AccountID: accountID, First: first, Note: append([]byte(nil), note...), CreatedAt: sqlstore.Time(created)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: purge statements: %w", mapErr(err))
	}
	return out, nil
}

// scanPurged reads (seq, time, leaf_hash) rows and closes them.
func scanPurged(rows pgx.Rows) ([]stele.PurgedEvent, error) {
	var (
		out []stele.PurgedEvent
		e   stele.PurgedEvent
		h   []byte
	)
	_, err := pgx.ForEachRow(rows, []any{&e.Seq, &e.Time, &h}, func() error {
		if len(h) != 32 {
			return fmt.Errorf("leaf hash of %d bytes at seq %d", len(h), e.Seq)
		}
		e.LeafHash = [32]byte(h)
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}
