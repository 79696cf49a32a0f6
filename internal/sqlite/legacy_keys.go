package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/stele-audit/stele"
)

var _ stele.LegacyKeys = (*DB)(nil)

// hasLegacyKeys reports whether the file still has the account_keys table
// in which releases before the key store kept the wrapped keys.
func (db *DB) hasLegacyKeys(ctx context.Context) (bool, error) {
	var one int
	err := db.reader.QueryRowContext(ctx, `SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'account_keys'`).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sqlite: legacy keys: %w", mapErr(err))
	}
	return true, nil
}

// LegacyWrappedKeys returns the wrapped keys still kept beside the events,
// by account, purpose and version.
func (db *DB) LegacyWrappedKeys(ctx context.Context) ([]stele.WrappedKey, error) {
	if ok, err := db.hasLegacyKeys(ctx); !ok || err != nil {
		return nil, err
	}
	rows, err := db.reader.QueryContext(ctx, `SELECT account_id, purpose, version, master_version, wrapped, created_at
		FROM account_keys ORDER BY account_id, purpose, version`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: legacy keys: %w", mapErr(err))
	}
	return scanWrappedKeys(rows)
}

// DropLegacyKeys deletes the wrapped keys kept beside the events and drops
// their table with secure_delete on, so that the freed pages are zeroed,
// then checkpoints and truncates the WAL, so that no page image of the
// keys is left in the live files. An empty table (a store made by this
// release) is just dropped.
func (db *DB) DropLegacyKeys(ctx context.Context) error {
	if ok, err := db.hasLegacyKeys(ctx); !ok || err != nil {
		return err
	}
	var n int64
	if err := db.reader.QueryRowContext(ctx, `SELECT count(*) FROM account_keys`).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: drop legacy keys: %w", mapErr(err))
	}
	if n == 0 {
		return db.write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS account_keys`); err != nil {
				return fmt.Errorf("sqlite: drop legacy keys: %w", mapErr(err))
			}
			return nil
		})
	}
	conn, err := db.writer.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: drop legacy keys: %w", mapErr(err))
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return fmt.Errorf("sqlite: drop legacy keys: %w", mapErr(err))
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA secure_delete = OFF`)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: drop legacy keys: %w", mapErr(err))
	}
	// Deleted first, so that every cell is overwritten, then dropped.
	for _, stmt := range []string{`DELETE FROM account_keys`, `DROP TABLE IF EXISTS account_keys`} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: drop legacy keys: %w", mapErr(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: drop legacy keys: commit: %w", mapErr(err))
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("sqlite: drop legacy keys: checkpoint: %w", mapErr(err))
	}
	return nil
}
