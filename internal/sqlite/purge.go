package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

var _ stele.RetentionStore = (*DB)(nil)

// ExpiredEvents returns up to limit of the account's events whose time is
// before cutoff, oldest first, read from the time index wherever their
// seqs lie.
func (db *DB) ExpiredEvents(ctx context.Context, accountID, cutoff int64, after *stele.PurgedEvent, limit int) ([]stele.PurgedEvent, error) {
	if limit <= 0 {
		return nil, stele.Errorf(stele.EINVALID, "purge limit must be positive")
	}
	from := [2]int64{math.MinInt64, math.MinInt64}
	if after != nil {
		from = [2]int64{after.Time, after.Seq}
	}
	rows, err := db.reader.QueryContext(ctx, `SELECT seq, time, leaf_hash FROM events INDEXED BY events_time
		WHERE account_id = ? AND time < ? AND (time, seq) > (?, ?) ORDER BY time, seq LIMIT ?`, accountID, cutoff, from[0], from[1], limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: expired events: %w", mapErr(err))
	}
	out, err := scanPurged(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: expired events: %w", err)
	}
	return out, nil
}

// PurgeEvents deletes the batch's events and keeps their leaves, in one
// transaction on the writer that also stores the statement; see
// stele.RetentionStore. The rows are deleted by seq and the store compares
// what it deleted with the batch before it commits.
func (db *DB) PurgeEvents(ctx context.Context, accountID, cutoff int64, batch []stele.PurgedEvent, stmt *stele.PurgeStatement) error {
	if len(batch) == 0 {
		return nil
	}
	seqs := make([]int64, len(batch))
	for i, e := range batch {
		seqs[i] = e.Seq
	}
	list, _ := json.Marshal(seqs)
	err := db.write(ctx, func(tx *sql.Tx) error {
		if err := uncount(ctx, tx, accountID, string(list)); err != nil {
			return err
		}
		// What is kept is copied from the rows themselves, in one statement;
		// the delete then says what it took, which must be the batch.
		if _, err := tx.ExecContext(ctx, `INSERT INTO purged_events (account_id, seq, time, leaf_hash)
			SELECT account_id, seq, time, leaf_hash FROM events WHERE account_id = ? AND seq IN (SELECT value FROM json_each(?))`,
			accountID, string(list)); err != nil {
			return fmt.Errorf("sqlite: keep purged leaves: %w", mapErr(err))
		}
		rows, err := tx.QueryContext(ctx, `DELETE FROM events WHERE account_id = ? AND seq IN (SELECT value FROM json_each(?))
			RETURNING seq, time, leaf_hash`, accountID, string(list))
		if err != nil {
			return fmt.Errorf("sqlite: purge events: %w", mapErr(err))
		}
		deleted, err := scanPurged(rows)
		if err != nil {
			return fmt.Errorf("sqlite: purge events: %w", err)
		}
		slices.SortFunc(deleted, func(a, b stele.PurgedEvent) int { return cmp.Compare(a.Seq, b.Seq) })
		if err := stele.CheckPurgeBatch(accountID, cutoff, batch, deleted, stmt); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency WHERE account_id = ? AND seq IN (SELECT value FROM json_each(?))`,
			accountID, string(list)); err != nil {
			return fmt.Errorf("sqlite: purge idempotency: %w", mapErr(err))
		}
		if stmt == nil {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO purge_statements (account_id, first_seq, note, created_at) VALUES (?, ?, ?, ?)`,
			accountID, stmt.First, stmt.Note, stmt.CreatedAt.UnixMicro()); err != nil {
			return fmt.Errorf("sqlite: add purge statement: %w", mapErr(err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	// A purge dirties pages all over the indexes. Checkpoint them now, as
	// part of the purge's own cost (which its caller paces itself by),
	// rather than in whichever ingest commit next crosses the
	// autocheckpoint threshold. PASSIVE never waits for readers.
	if _, err := db.writer.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
		return fmt.Errorf("sqlite: checkpoint after purge: %w", mapErr(err))
	}
	return nil
}

// PurgedEvents returns up to limit of the account's purged events with seq
// >= from, by seq.
func (db *DB) PurgedEvents(ctx context.Context, accountID, from int64, limit int) ([]stele.PurgedEvent, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT seq, time, leaf_hash FROM purged_events WHERE account_id = ? AND seq >= ? ORDER BY seq LIMIT ?`,
		accountID, from, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: purged events: %w", mapErr(err))
	}
	out, err := scanPurged(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: purged events: %w", err)
	}
	return out, nil
}

// PurgeStatements returns the account's set purge statements by first seq.
func (db *DB) PurgeStatements(ctx context.Context, accountID int64) ([]*stele.PurgeStatement, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT first_seq, note, created_at FROM purge_statements WHERE account_id = ? ORDER BY first_seq`, accountID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: purge statements: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*stele.PurgeStatement
	for rows.Next() {
		p := &stele.PurgeStatement{AccountID: accountID}
		var created int64
		if err := rows.Scan(&p.First, &p.Note, &created); err != nil {
			return nil, fmt.Errorf("sqlite: purge statements: %w", err)
		}
		p.CreatedAt = sqlstore.Time(created)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: purge statements: %w", mapErr(err))
	}
	return out, nil
}

// scanPurged reads (seq, time, leaf_hash) rows and closes them.
func scanPurged(rows *sql.Rows) ([]stele.PurgedEvent, error) {
	defer rows.Close()
	var out []stele.PurgedEvent
	for rows.Next() {
		var (
			e stele.PurgedEvent
			h sql.RawBytes
		)
		if err := rows.Scan(&e.Seq, &e.Time, &h); err != nil {
			return nil, err
		}
		if len(h) != 32 {
			return nil, fmt.Errorf("leaf hash of %d bytes at seq %d", len(h), e.Seq)
		}
		e.LeafHash = [32]byte(h)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// uncount takes the events of the seqs in list (a JSON array) that the
// chart's hourly rollup has counted out of it, in the purge's transaction,
// so that once the events are gone, so is every trace of them, counts included.
func uncount(ctx context.Context, tx *sql.Tx, accountID int64, list string) error {
	var counted int64
	err := tx.QueryRowContext(ctx, `SELECT counted_to FROM event_counts_head WHERE account_id = ?`, accountID).Scan(&counted)
	if errors.Is(err, sql.ErrNoRows) || err == nil && counted <= 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: purge counts: %w", mapErr(err))
	}
	if _, err := tx.ExecContext(ctx, `UPDATE event_counts SET n = n - d.c FROM (
			SELECT (time / ?1) * ?1 AS hour, action, category, outcome, count(*) AS c FROM events
			WHERE account_id = ?2 AND seq IN (SELECT value FROM json_each(?3)) AND seq < ?4 GROUP BY 1, 2, 3, 4) AS d
		WHERE event_counts.account_id = ?2 AND event_counts.hour = d.hour AND event_counts.action = d.action
			AND event_counts.category = d.category AND event_counts.outcome = d.outcome`,
		hourMicros, accountID, list, counted); err != nil {
		return fmt.Errorf("sqlite: purge counts: %w", mapErr(err))
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM event_counts WHERE account_id = ? AND n <= 0`, accountID); err != nil {
		return fmt.Errorf("sqlite: purge counts: %w", mapErr(err))
	}
	return nil
}
