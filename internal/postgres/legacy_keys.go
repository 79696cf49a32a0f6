package postgres

import (
	"context"
	"fmt"

	"github.com/stele-audit/stele"
)

var _ stele.LegacyKeys = (*DB)(nil)

// LegacyWrappedKeys returns the wrapped keys still kept beside the events
// (the account_keys table of releases before the key store), by account,
// purpose and version.
func (db *DB) LegacyWrappedKeys(ctx context.Context) ([]stele.WrappedKey, error) {
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT to_regclass('account_keys') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("postgres: legacy keys: %w", mapErr(err))
	}
	if !exists {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT account_id, purpose, version, master_version, wrapped, created_at
		FROM account_keys ORDER BY account_id, purpose COLLATE "C", version`)
	if err != nil {
		return nil, fmt.Errorf("postgres: legacy keys: %w", mapErr(err))
	}
	return collectWrappedKeys(rows)
}

// DropLegacyKeys drops the table of the wrapped keys kept beside the
// events: its files are removed, no dead row version of it is left in the
// live database. Copies in WAL archives and base backups taken before
// remain until those expire.
func (db *DB) DropLegacyKeys(ctx context.Context) error {
	if _, err := db.pool.Exec(ctx, `DROP TABLE IF EXISTS account_keys`); err != nil {
		return fmt.Errorf("postgres: drop legacy keys: %w", mapErr(err))
	}
	return nil
}
