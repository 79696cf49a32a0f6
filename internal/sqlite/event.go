package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

// Rows returns the account's rows matching q, newest first by (time, seq).
func (db *DB) Rows(ctx context.Context, q stele.RowQuery) ([]stele.EventRow, error) {
	query, args, err := buildRowQuery(q)
	if err != nil {
		return nil, err
	}
	out, err := db.queryEvents(ctx, q.Limit, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: rows: %w", err)
	}
	return out, nil
}

// Row returns one row; ENOTFOUND if the account has no event with seq.
func (db *DB) Row(ctx context.Context, accountID, seq int64) (*stele.EventRow, error) {
	out, err := db.queryEvents(ctx, 1, `SELECT `+eventColumns+` FROM events WHERE account_id = ? AND seq = ?`, accountID, seq)
	if err != nil {
		return nil, fmt.Errorf("sqlite: row: %w", err)
	}
	if len(out) == 0 {
		return nil, notFound("event %s not found", stele.EventID(accountID, seq))
	}
	return &out[0], nil
}

// queryEvents runs a query of eventColumns on a reader and returns its
// rows, nil if none; limit, when positive, is the most it can return.
func (db *DB) queryEvents(ctx context.Context, limit int, query string, args ...any) ([]stele.EventRow, error) {
	rows, err := db.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := make([]stele.EventRow, 0, min(max(limit, 0), 4096))
	var blocks sqlstore.Blocks
	for rows.Next() {
		var r stele.EventRow
		if err := scanEvent(rows, &r, &blocks); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// scanEvent reads one row of eventColumns into r. The blobs are read
// without database/sql's copy and copied once, into blocks.
func scanEvent(rows *sql.Rows, r *stele.EventRow, blocks *sqlstore.Blocks) error {
	var (
		cat, out                              int64
		actor, actorEmail, target, source, ip sql.NullInt64
		payload, leaf                         sql.RawBytes
	)
	if err := rows.Scan(&r.AccountID, &r.Seq, &r.Time, &r.ReceivedAt, &r.Action, &cat, &out,
		&actor, &actorEmail, &target, &source, &ip, &r.KeyVersion, &payload, &leaf); err != nil {
		return err
	}
	if cat < 0 || cat >= int64(len(stele.Categories)) {
		return fmt.Errorf("event %d/%d: unknown category code %d", r.AccountID, r.Seq, cat)
	}
	if out < 0 || out >= int64(len(stele.Outcomes)) {
		return fmt.Errorf("event %d/%d: unknown outcome code %d", r.AccountID, r.Seq, out)
	}
	if len(leaf) != 32 {
		return fmt.Errorf("event %d/%d: leaf hash of %d bytes", r.AccountID, r.Seq, len(leaf))
	}
	r.Category, r.Outcome = stele.Categories[cat], stele.Outcomes[out]
	r.ActorTok, r.ActorEmailTok, r.TargetTok, r.SourceTok, r.IPTok = actor.Int64, actorEmail.Int64, target.Int64, source.Int64, ip.Int64
	r.Payload = blocks.Copy(payload)
	r.LeafHash = [32]byte(leaf)
	return nil
}

// LeafHashes returns the leaf hashes of seqs [from, to) in seq order.
func (db *DB) LeafHashes(ctx context.Context, accountID, from, to int64) ([][32]byte, error) {
	// The leaves of purged events are kept apart from the events.
	rows, err := db.reader.QueryContext(ctx, `SELECT leaf_hash FROM (
		SELECT seq, leaf_hash FROM events WHERE account_id = ?1 AND seq >= ?2 AND seq < ?3
		UNION ALL SELECT seq, leaf_hash FROM purged_events WHERE account_id = ?1 AND seq >= ?2 AND seq < ?3) ORDER BY seq`,
		accountID, from, to)
	if err != nil {
		return nil, fmt.Errorf("sqlite: leaf hashes: %w", mapErr(err))
	}
	defer rows.Close()
	var out [][32]byte
	for rows.Next() {
		var h sql.RawBytes
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("sqlite: leaf hashes: %w", err)
		}
		if len(h) != 32 {
			return nil, fmt.Errorf("sqlite: leaf hashes: hash of %d bytes", len(h))
		}
		out = append(out, [32]byte(h))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: leaf hashes: %w", mapErr(err))
	}
	return out, nil
}

// TreeNodes returns the account's stored nodes of level with index in [from, to).
func (db *DB) TreeNodes(ctx context.Context, accountID int64, level int, from, to int64) ([]stele.TreeNode, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT idx, hash FROM tree_nodes WHERE account_id = ? AND level = ? AND idx >= ? AND idx < ? ORDER BY idx`,
		accountID, level, from, to)
	if err != nil {
		return nil, fmt.Errorf("sqlite: tree nodes: %w", mapErr(err))
	}
	defer rows.Close()
	var out []stele.TreeNode
	for rows.Next() {
		n := stele.TreeNode{Level: level}
		var h sql.RawBytes
		if err := rows.Scan(&n.Index, &h); err != nil {
			return nil, fmt.Errorf("sqlite: tree nodes: %w", err)
		}
		if len(h) != 32 {
			return nil, fmt.Errorf("sqlite: tree nodes: hash of %d bytes", len(h))
		}
		n.Hash = [32]byte(h)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: tree nodes: %w", mapErr(err))
	}
	return out, nil
}

// CurrentHead returns the account's committed head; size 0 before any event.
func (db *DB) CurrentHead(ctx context.Context, accountID int64) (stele.Head, error) {
	return readHead(db.reader.QueryRowContext(ctx, `SELECT size, frontier FROM heads WHERE account_id = ?`, accountID), accountID)
}

// CountRows returns the number of the account's stored events.
func (db *DB) CountRows(ctx context.Context, accountID int64) (int64, error) {
	var n int64
	if err := db.reader.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE account_id = ?`, accountID).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count rows: %w", mapErr(err))
	}
	return n, nil
}

// Actions returns the account's distinct actions starting with prefix, in
// byte order, at most limit. It seeks the action index once per action (a
// loose index scan), however many events each has.
func (db *DB) Actions(ctx context.Context, accountID int64, prefix string, limit int) ([]string, error) {
	// TEXT compares byte-wise (BINARY): the actions with the prefix are
	// those from it up to its PrefixEnd, or every one from it if it has none.
	below, args := ``, []any{accountID, prefix, limit}
	if hi, ok := sqlstore.PrefixEnd(prefix); ok {
		below, args = ` AND action < ?4`, append(args, hi)
	}
	rows, err := db.reader.QueryContext(ctx, `WITH RECURSIVE next(action, n) AS (
			SELECT (SELECT action FROM events INDEXED BY events_action WHERE account_id = ?1 AND action >= ?2 ORDER BY action LIMIT 1), 1
			UNION ALL
			SELECT (SELECT e.action FROM events e INDEXED BY events_action WHERE e.account_id = ?1 AND e.action > next.action ORDER BY e.action LIMIT 1), n + 1
			FROM next WHERE action IS NOT NULL AND n < ?3`+below+`
		)
		SELECT action FROM next WHERE action IS NOT NULL`+below+` LIMIT ?3`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: actions: %w", mapErr(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("sqlite: actions: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: actions: %w", mapErr(err))
	}
	return out, nil
}
