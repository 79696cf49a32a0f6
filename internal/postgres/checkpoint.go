package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/sqlstore"
)

var _ stele.IntegrityStore = (*DB)(nil)

// AddCheckpoint stores a signed checkpoint; one of the same size is kept,
// so two nodes signing the same tree at once both succeed.
func (db *DB) AddCheckpoint(ctx context.Context, c *stele.Checkpoint) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO checkpoints (account_id, size, root, note, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (account_id, size) DO NOTHING`, c.AccountID, c.Size, c.Root[:], sqlstore.NonNilBytes(c.Note), c.CreatedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("postgres: add checkpoint: %w", mapErr(err))
	}
	return nil
}

// LatestCheckpoint returns the account's largest checkpoint.
func (db *DB) LatestCheckpoint(ctx context.Context, accountID int64) (*stele.Checkpoint, error) {
	c, err := sqlstore.ScanCheckpoint(db.pool.QueryRow(ctx, `SELECT `+sqlstore.CheckpointColumns+` FROM checkpoints
		WHERE account_id = $1 ORDER BY size DESC LIMIT 1`, accountID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("account %d has no checkpoint yet", accountID)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: latest checkpoint: %w", mapErr(err))
	}
	return c, nil
}

// CheckpointAt returns the account's checkpoint of the given size.
func (db *DB) CheckpointAt(ctx context.Context, accountID, size int64) (*stele.Checkpoint, error) {
	c, err := sqlstore.ScanCheckpoint(db.pool.QueryRow(ctx, `SELECT `+sqlstore.CheckpointColumns+` FROM checkpoints
		WHERE account_id = $1 AND size = $2`, accountID, size))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("no checkpoint of size %d", size)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: checkpoint: %w", mapErr(err))
	}
	return c, nil
}

// Checkpoints returns all the account's checkpoints by size.
func (db *DB) Checkpoints(ctx context.Context, accountID int64) ([]*stele.Checkpoint, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+sqlstore.CheckpointColumns+` FROM checkpoints WHERE account_id = $1 ORDER BY size`, accountID)
	if err != nil {
		return nil, fmt.Errorf("postgres: checkpoints: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*stele.Checkpoint, error) { return sqlstore.ScanCheckpoint(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: checkpoints: %w", mapErr(err))
	}
	return out, nil
}

// AddPurge stores a purge record; one with the same Below is kept.
func (db *DB) AddPurge(ctx context.Context, p *stele.Purge) error {
	return insertPurge(ctx, db.pool, p)
}

// execer is what a pool and a transaction share for statements.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertPurge(ctx context.Context, db execer, p *stele.Purge) error {
	frontier := make([]byte, 0, 32*len(p.Frontier))
	for _, f := range p.Frontier {
		frontier = append(frontier, f[:]...)
	}
	_, err := db.Exec(ctx, `INSERT INTO purges (account_id, below, frontier, note, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (account_id, below) DO NOTHING`, p.AccountID, p.Below, frontier, sqlstore.NonNilBytes(p.Note), p.CreatedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("postgres: add purge: %w", mapErr(err))
	}
	return nil
}

// Purges returns the account's purge records by Below.
func (db *DB) Purges(ctx context.Context, accountID int64) ([]*stele.Purge, error) {
	rows, err := db.pool.Query(ctx, `SELECT below, frontier, note, created_at FROM purges WHERE account_id = $1 ORDER BY below`, accountID)
	if err != nil {
		return nil, fmt.Errorf("postgres: purges: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*stele.Purge, error) {
		p := &stele.Purge{AccountID: accountID}
		var frontier []byte
		var created int64
		if err := r.Scan(&p.Below, &frontier, &p.Note, &created); err != nil {
			return nil, err
		}
		if len(frontier)%32 != 0 {
			return nil, fmt.Errorf("purge %d/%d: frontier of %d bytes", accountID, p.Below, len(frontier))
		}
		for i := 0; i < len(frontier); i += 32 {
			p.Frontier = append(p.Frontier, [32]byte(frontier[i:i+32]))
		}
		p.CreatedAt = sqlstore.Time(created)
		return p, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: purges: %w", mapErr(err))
	}
	return out, nil
}

// RowsBySeq returns up to limit of the account's rows with seq >= from, by seq.
func (db *DB) RowsBySeq(ctx context.Context, accountID, from int64, limit int) ([]stele.EventRow, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE account_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3`,
		accountID, from, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: rows by seq: %w", mapErr(err))
	}
	out, err := collectEvents(rows, min(limit, 4096))
	if err != nil {
		return nil, fmt.Errorf("postgres: rows by seq: %w", mapErr(err))
	}
	return out, nil
}

// MaxSeq returns the account's largest stored seq, or -1.
func (db *DB) MaxSeq(ctx context.Context, accountID int64) (int64, error) {
	var n *int64
	if err := db.pool.QueryRow(ctx, `SELECT max(seq) FROM events WHERE account_id = $1`, accountID).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: max seq: %w", mapErr(err))
	}
	if n == nil {
		return -1, nil
	}
	return *n, nil
}
