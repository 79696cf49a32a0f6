package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/stele-audit/stele"
)

// ScanRows calls fn with each of the account's rows with seq in [from, to)
// (no upper bound when to < 0), in seq order. It fills the columns a
// verification needs (not the blind tokens) into one reused row, whose
// Payload is valid only during the call: fn copies what it keeps. It is
// the store verifier's reader; several run at once on the reader pool.
func (db *DB) ScanRows(ctx context.Context, accountID, from, to int64, fn func(*stele.EventRow) error) error {
	// The action is read as a blob: the driver looks up the declared type
	// of every text value it returns, a cost per row here.
	query := `SELECT seq, time, received_at, CAST(action AS BLOB), category, outcome, key_version, payload, leaf_hash FROM events
		WHERE account_id = ? AND seq >= ? AND seq < ? ORDER BY seq`
	if to < 0 {
		to = 1<<63 - 1
	}
	rows, err := db.reader.QueryContext(ctx, query, accountID, from, to)
	if err != nil {
		return fmt.Errorf("sqlite: scan rows: %w", mapErr(err))
	}
	defer rows.Close()
	r := stele.EventRow{AccountID: accountID}
	var (
		cat, out     int64
		action, leaf sql.RawBytes
		payload      sql.RawBytes
	)
	for rows.Next() {
		if err := rows.Scan(&r.Seq, &r.Time, &r.ReceivedAt, &action, &cat, &out, &r.KeyVersion, &payload, &leaf); err != nil {
			return fmt.Errorf("sqlite: scan rows: %w", err)
		}
		if cat < 0 || cat >= int64(len(stele.Categories)) {
			return fmt.Errorf("sqlite: scan rows: event %d/%d: unknown category code %d", accountID, r.Seq, cat)
		}
		if out < 0 || out >= int64(len(stele.Outcomes)) {
			return fmt.Errorf("sqlite: scan rows: event %d/%d: unknown outcome code %d", accountID, r.Seq, out)
		}
		if len(leaf) != 32 {
			return fmt.Errorf("sqlite: scan rows: event %d/%d: leaf hash of %d bytes", accountID, r.Seq, len(leaf))
		}
		// Actions repeat: keep the previous string when it is the same.
		if r.Action != string(action) {
			r.Action = string(action)
		}
		r.Category, r.Outcome = stele.Categories[cat], stele.Outcomes[out]
		r.Payload = payload
		r.LeafHash = [32]byte(leaf)
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: scan rows: %w", mapErr(err))
	}
	return nil
}

var _ stele.RowScanner = (*DB)(nil)

// scanPage is how many rows ScanQuery reads in one statement: each page is
// a read transaction of its own, so that a long export does not hold one
// snapshot (and the WAL) for its whole length.
const scanPage = 5000

// ScanQuery calls fn with each row matching q, newest first, from q's
// cursor on (q.Limit is ignored). Like ScanRows it fills one reused row
// with the columns a reader of the events needs (not the blind tokens nor
// the leaf hash), without the driver's conversions and copies; the row and
// its Payload are valid only during the call.
func (db *DB) ScanQuery(ctx context.Context, q stele.RowQuery, fn func(*stele.EventRow) error) error {
	q.Limit = scanPage
	r := stele.EventRow{AccountID: q.AccountID}
	var (
		cat, out int64
		action   sql.RawBytes
	)
	for {
		query, args, err := buildRowQueryOf(q, `seq, time, received_at, CAST(action AS BLOB), category, outcome, key_version, payload`)
		if err != nil {
			return err
		}
		rows, err := db.reader.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("sqlite: scan query: %w", mapErr(err))
		}
		n := 0
		for rows.Next() {
			n++
			if err := rows.Scan(&r.Seq, &r.Time, &r.ReceivedAt, &action, &cat, &out, &r.KeyVersion, (*sql.RawBytes)(&r.Payload)); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: scan query: %w", err)
			}
			if cat < 0 || cat >= int64(len(stele.Categories)) || out < 0 || out >= int64(len(stele.Outcomes)) {
				rows.Close()
				return fmt.Errorf("sqlite: scan query: event %d/%d: unknown category or outcome code", q.AccountID, r.Seq)
			}
			if r.Action != string(action) {
				r.Action = string(action)
			}
			r.Category, r.Outcome = stele.Categories[cat], stele.Outcomes[out]
			if err := fn(&r); err != nil {
				rows.Close()
				return err
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("sqlite: scan query: %w", mapErr(err))
		}
		if n < scanPage {
			return nil
		}
		q.HasBelow, q.BelowTime, q.BelowSeq = true, r.Time, r.Seq
	}
}
