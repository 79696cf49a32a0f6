package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

// Rows returns the account's rows matching q, newest first by (time, seq).
func (db *DB) Rows(ctx context.Context, q stele.RowQuery) ([]stele.EventRow, error) {
	query, args, err := buildRowQuery(q)
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: rows: %w", mapErr(err))
	}
	out, err := collectEvents(rows, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: rows: %w", mapErr(err))
	}
	return out, nil
}

// scanPage is how many rows ScanQuery reads in one statement: each page is
// a short query of its own, so that a long export holds no snapshot for
// its whole length.
const scanPage = 1000

// ScanQuery calls fn with each row matching q, newest first, from q's
// cursor on, reading q page by page with Rows (q.Limit is ignored).
func (db *DB) ScanQuery(ctx context.Context, q stele.RowQuery, fn func(*stele.EventRow) error) error {
	return sqlstore.ScanPages(ctx, db.Rows, q, scanPage, fn)
}

var _ stele.Store = (*DB)(nil)

func collectEvents(rows pgx.Rows, capacity int) ([]stele.EventRow, error) {
	defer rows.Close()
	out := make([]stele.EventRow, 0, max(capacity, 0))
	var blocks sqlstore.Blocks
	wire := false
	for rows.Next() {
		if len(out) == 0 {
			wire = wireDecodable(rows.FieldDescriptions())
		}
		var r stele.EventRow
		var err error
		if wire {
			err = decodeEvent(rows.RawValues(), &r, &blocks)
		} else {
			err = scanEvent(rows, &r)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// Row returns one row; ENOTFOUND if the account has no event with seq.
func (db *DB) Row(ctx context.Context, accountID, seq int64) (*stele.EventRow, error) {
	var r stele.EventRow
	err := scanEvent(db.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE account_id = $1 AND seq = $2 LIMIT 1`, accountID, seq), &r)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("event %s not found", stele.EventID(accountID, seq))
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: row: %w", mapErr(err))
	}
	return &r, nil
}

func scanEvent(s pgx.Row, r *stele.EventRow) error {
	var (
		cat, out                              int16
		actor, actorEmail, target, source, ip *int64
		keyVersion                            int32
		leaf                                  []byte
	)
	if err := s.Scan(&r.AccountID, &r.Seq, &r.Time, &r.ReceivedAt, &r.Action, &cat, &out,
		&actor, &actorEmail, &target, &source, &ip, &keyVersion, &r.Payload, &leaf); err != nil {
		return err
	}
	r.ActorTok, r.ActorEmailTok, r.TargetTok, r.SourceTok, r.IPTok = val(actor), val(actorEmail), val(target), val(source), val(ip)
	r.KeyVersion = int(keyVersion)
	return setCodesAndLeaf(r, cat, out, leaf)
}

// setCodesAndLeaf checks and sets a row's category and outcome codes and its
// leaf hash, as either reader of a row found them.
func setCodesAndLeaf(r *stele.EventRow, cat, out int16, leaf []byte) error {
	if cat < 0 || int(cat) >= len(stele.Categories) {
		return fmt.Errorf("event %d/%d: unknown category code %d", r.AccountID, r.Seq, cat)
	}
	if out < 0 || int(out) >= len(stele.Outcomes) {
		return fmt.Errorf("event %d/%d: unknown outcome code %d", r.AccountID, r.Seq, out)
	}
	if len(leaf) != 32 {
		return fmt.Errorf("event %d/%d: leaf hash of %d bytes", r.AccountID, r.Seq, len(leaf))
	}
	r.Category, r.Outcome = stele.Categories[cat], stele.Outcomes[out]
	r.LeafHash = [32]byte(leaf)
	return nil
}

func val(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// LeafHashes returns the leaf hashes of seqs [from, to) in seq order.
func (db *DB) LeafHashes(ctx context.Context, accountID, from, to int64) ([][32]byte, error) {
	// The leaves of purged events are kept apart from the events.
	rows, err := db.pool.Query(ctx, `SELECT leaf_hash FROM (
		SELECT seq, leaf_hash FROM events WHERE account_id = $1 AND seq >= $2 AND seq < $3
		UNION ALL SELECT seq, leaf_hash FROM purged_events WHERE account_id = $1 AND seq >= $2 AND seq < $3) AS l ORDER BY seq`,
		accountID, from, to)
	if err != nil {
		return nil, fmt.Errorf("postgres: leaf hashes: %w", mapErr(err))
	}
	var out [][32]byte
	var h []byte
	_, err = pgx.ForEachRow(rows, []any{&h}, func() error {
		if len(h) != 32 {
			return fmt.Errorf("hash of %d bytes", len(h))
		}
		out = append(out, [32]byte(h))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: leaf hashes: %w", mapErr(err))
	}
	return out, nil
}

// TreeNodes returns the account's stored nodes of level with index in [from, to).
func (db *DB) TreeNodes(ctx context.Context, accountID int64, level int, from, to int64) ([]stele.TreeNode, error) {
	rows, err := db.pool.Query(ctx, `SELECT idx, hash FROM tree_nodes WHERE account_id = $1 AND level = $2 AND idx >= $3 AND idx < $4 ORDER BY idx`,
		accountID, level, from, to)
	if err != nil {
		return nil, fmt.Errorf("postgres: tree nodes: %w", mapErr(err))
	}
	var out []stele.TreeNode
	var idx int64
	var h []byte
	_, err = pgx.ForEachRow(rows, []any{&idx, &h}, func() error {
		if len(h) != 32 {
			return fmt.Errorf("hash of %d bytes", len(h))
		}
		out = append(out, stele.TreeNode{Level: level, Index: idx, Hash: [32]byte(h)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: tree nodes: %w", mapErr(err))
	}
	return out, nil
}

// CurrentHead returns the account's committed head; size 0 before any event.
func (db *DB) CurrentHead(ctx context.Context, accountID int64) (stele.Head, error) {
	h, err := readHead(db.pool.QueryRow(ctx, `SELECT size, frontier FROM heads WHERE account_id = $1`, accountID), accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return stele.Head{AccountID: accountID}, nil
	}
	if err != nil {
		return h, fmt.Errorf("postgres: current head: %w", mapErr(err))
	}
	return h, nil
}

// CountRows returns the number of the account's stored events.
func (db *DB) CountRows(ctx context.Context, accountID int64) (int64, error) {
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE account_id = $1`, accountID).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count rows: %w", mapErr(err))
	}
	return n, nil
}

// Actions returns the account's distinct actions starting with prefix, in
// byte order (the column is COLLATE "C"), at most limit. It probes the
// action index once per action and partition (a loose index scan),
// however many events each action has.
func (db *DB) Actions(ctx context.Context, accountID int64, prefix string, limit int) ([]string, error) {
	rows, err := db.pool.Query(ctx, `WITH RECURSIVE next(action, n) AS (
			SELECT (SELECT action FROM events WHERE account_id = $1 AND action >= $2 ORDER BY action LIMIT 1), 1
			UNION ALL
			SELECT (SELECT e.action FROM events e WHERE e.account_id = $1 AND e.action > next.action ORDER BY e.action LIMIT 1), n + 1
			FROM next WHERE starts_with(action, $2) AND n < $3
		)
		SELECT action FROM next WHERE starts_with(action, $2) LIMIT $3`, accountID, prefix, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: actions: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: actions: %w", mapErr(err))
	}
	return out, nil
}
