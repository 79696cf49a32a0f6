package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

var _ stele.IntegrityStore = (*DB)(nil)

// AddCheckpoint stores a signed checkpoint; one of the same size is kept.
func (db *DB) AddCheckpoint(ctx context.Context, c *stele.Checkpoint) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (account_id, size, root, note, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (account_id, size) DO NOTHING`, c.AccountID, c.Size, c.Root[:], c.Note, c.CreatedAt.UnixMicro())
		if err != nil {
			return fmt.Errorf("sqlite: add checkpoint: %w", mapErr(err))
		}
		return nil
	})
}

// LatestCheckpoint returns the account's largest checkpoint.
func (db *DB) LatestCheckpoint(ctx context.Context, accountID int64) (*stele.Checkpoint, error) {
	c, err := sqlstore.ScanCheckpoint(db.reader.QueryRowContext(ctx, `SELECT `+sqlstore.CheckpointColumns+` FROM checkpoints
		WHERE account_id = ? ORDER BY size DESC LIMIT 1`, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("account %d has no checkpoint yet", accountID)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: latest checkpoint: %w", mapErr(err))
	}
	return c, nil
}

// CheckpointAt returns the account's checkpoint of the given size.
func (db *DB) CheckpointAt(ctx context.Context, accountID, size int64) (*stele.Checkpoint, error) {
	c, err := sqlstore.ScanCheckpoint(db.reader.QueryRowContext(ctx, `SELECT `+sqlstore.CheckpointColumns+` FROM checkpoints
		WHERE account_id = ? AND size = ?`, accountID, size))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("no checkpoint of size %d", size)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: checkpoint: %w", mapErr(err))
	}
	return c, nil
}

// Checkpoints returns all the account's checkpoints by size.
func (db *DB) Checkpoints(ctx context.Context, accountID int64) ([]*stele.Checkpoint, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+sqlstore.CheckpointColumns+` FROM checkpoints WHERE account_id = ? ORDER BY size`, accountID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: checkpoints: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*stele.Checkpoint
	for rows.Next() {
		c, err := sqlstore.ScanCheckpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: checkpoints: %w", mapErr(err))
	}
	return out, nil
}

// AddPurge stores a purge record; one with the same Below is kept.
func (db *DB) AddPurge(ctx context.Context, p *stele.Purge) error {
	return db.write(ctx, func(tx *sql.Tx) error { return insertPurge(ctx, tx, p) })
}

func insertPurge(ctx context.Context, tx *sql.Tx, p *stele.Purge) error {
	frontier := make([]byte, 0, 32*len(p.Frontier))
	for _, f := range p.Frontier {
		frontier = append(frontier, f[:]...)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO purges (account_id, below, frontier, note, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (account_id, below) DO NOTHING`, p.AccountID, p.Below, frontier, p.Note, p.CreatedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("sqlite: add purge: %w", mapErr(err))
	}
	return nil
}

// Purges returns the account's purge records by Below.
func (db *DB) Purges(ctx context.Context, accountID int64) ([]*stele.Purge, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT below, frontier, note, created_at FROM purges WHERE account_id = ? ORDER BY below`, accountID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: purges: %w", mapErr(err))
	}
	defer rows.Close()
	var out []*stele.Purge
	for rows.Next() {
		p := &stele.Purge{AccountID: accountID}
		var frontier []byte
		var created int64
		if err := rows.Scan(&p.Below, &frontier, &p.Note, &created); err != nil {
			return nil, fmt.Errorf("sqlite: purges: %w", err)
		}
		if len(frontier)%32 != 0 {
			return nil, fmt.Errorf("sqlite: purge %d/%d: frontier of %d bytes", accountID, p.Below, len(frontier))
		}
		for i := 0; i < len(frontier); i += 32 {
			p.Frontier = append(p.Frontier, [32]byte(frontier[i:i+32]))
		}
		p.CreatedAt = sqlstore.Time(created)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: purges: %w", mapErr(err))
	}
	return out, nil
}

// RowsBySeq returns up to limit of the account's rows with seq >= from, by seq.
func (db *DB) RowsBySeq(ctx context.Context, accountID, from int64, limit int) ([]stele.EventRow, error) {
	out, err := db.queryEvents(ctx, limit, `SELECT `+eventColumns+` FROM events WHERE account_id = ? AND seq >= ? ORDER BY seq LIMIT ?`,
		accountID, from, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: rows by seq: %w", err)
	}
	return out, nil
}

// MaxSeq returns the account's largest stored seq, or -1.
func (db *DB) MaxSeq(ctx context.Context, accountID int64) (int64, error) {
	var n sql.NullInt64
	if err := db.reader.QueryRowContext(ctx, `SELECT max(seq) FROM events WHERE account_id = ?`, accountID).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: max seq: %w", mapErr(err))
	}
	if !n.Valid {
		return -1, nil
	}
	return n.Int64, nil
}
